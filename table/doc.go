// Package table is what eventfold stores and how it is read back: the
// Envelope kept per entity in the group table (state, version, the last
// commands, a pending command, the open part of the history index), the
// sealed history Nodes in the history topic, the Entry a read returns, and
// the one read path over a node's open partitions (Set: Raw, Read,
// Envelope). History reads an entity's past from the index and the events
// topic (pages of events, the state at a version or a time).
//
//	<app>-<entity>-table    (compacted) key -> Envelope
//	<app>-<entity>-history  sealed index nodes, referenced from the Envelope
//
// Beneath it, package table/store is the LevelDB storage of one partition
// (goka's storage.Storage, writes batched).
//
// The processor writes these records (stage 1); the view and the query
// layer only read them. docs/history.md describes the index.
package table
