// Package processor folds events into state: stage 1 of eventfold.
//
//	<entity>-events ──► Evolve(state, event) ──► LevelDB (per partition) + <app>-<entity>-table (compacted)
//	                        │ decode error / Evolve error / panic
//	                        └──► <entity>-events-dlq (error in headers)
//
// An entity.Entity declares one entity type. A Processor runs one goka group per
// entity type ("<app>-<entity>"); Kafka assigns each partition of the events
// topic to exactly one node of the group. The stored value is an Envelope:
// the encoded state plus the number of events applied (Version) and the
// partition and offset of the last one. An event whose offset is not above
// the envelope's offset is a redelivery (at-least-once Kafka after a crash)
// and is not applied again, so state is effectively exactly-once without
// Kafka transactions.
//
// Threading: Evolve is called on one goroutine per partition, in offset
// order, never concurrently for the same key. It must be pure: no I/O, no
// clock, no randomness, so that any node folding the same events reaches the
// same state. A returned error (an invalid transition) sends the event to the
// dead-letter topic and leaves the state unchanged; so does a panic.
//
// Reads (Get) are answered from the local tables of the partitions this node
// owns; package interactive routes a key to its owner.
package processor
