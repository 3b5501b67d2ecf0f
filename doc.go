// Package eventfold is an embedded, stateful stream processor for event
// sourcing on Apache Kafka.
//
// Users declare entity types as a pure fold, Evolve(state, event) -> state.
// eventfold folds each entity type's events topic into local LevelDB state
// (goka group tables) backed by compacted changelog topics, and serves the
// current state of any entity from any node.
//
//	producers ──► <entity>-events ──► processor (Evolve) ──► LevelDB + <app>-<entity>-table
//	                                                              │
//	GET /v1/{entity}/{id} on any node ──► owner of hash(id) mod N ◄┘
//
// The pipeline, in data-flow order:
//
//	codec/        bytes <-> typed events and states
//	kafka/        one sarama configuration, topic creation and verification
//	processor/    stage 1: events -> folded state (envelope, dedupe, dead letters)
//	interactive/  stage 2: HTTP reads and appends from any node
//	eventfoldtest/ in-process kfake clusters with several nodes, for tests
//
// This package holds the sentinel errors shared by all of them.
package eventfold
