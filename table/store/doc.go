// Package store is the LevelDB storage of one table partition: goka's
// storage.Storage, with writes batched.
//
// goka's own LevelDB storage writes every Set as its own LevelDB write: a
// journal record and a write(2) per event, twice per event with the offset.
// Here writes collect in memory (readable at once) and reach LevelDB as one
// atomic batch every few milliseconds or few thousand records. A crash can
// lose the last batch, values and stored changelog offset together, so the
// partition is simply restored from that older offset: the changelog, not
// the local table, is the record. Kafka Streams runs RocksDB without a
// write-ahead log for the same reason.
package store
