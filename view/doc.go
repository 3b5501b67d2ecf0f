// Package view keeps read-only replicas of the entity tables: stage 3 of
// eventfold, beside the processor.
//
//	<app>-<entity>-table (changelog) ──► goka View ──► local LevelDB copy ──► standby reads
//
// A replica follows each table's changelog into its own LevelDB directory
// and reports, per partition, how many changelog records it is behind
// (Lag). Replica nodes (serve --role=replica) serve reads from it for read
// scaling and as a standby when owners are unreachable; they never own
// partitions, so adding one does not rebalance the processors.
package view
