// Package kafka holds everything eventfold says to Kafka in one place: the
// sarama configuration (safe defaults for event sourcing, built once and
// copied into every client), goka builders that use it, the key partitioner,
// topic creation and verification, and a producer that reports where each
// record landed.
//
// goka's DefaultConfig is wrong for event sourcing (a new group starts at the
// newest offset and skips history; acks=1): NewConfig fixes both, and nothing
// in eventfold touches goka's global configuration.
package kafka
