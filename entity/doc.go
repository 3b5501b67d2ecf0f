// Package entity is what a user of eventfold declares: an entity type
// (Entity: its events, its state and the pure Evolve that folds one into
// the other), its write side (Commands: a pure Decide), and what carrying
// out a command can answer (CommandResult, ConflictError, RejectedError).
//
// Entity.Type erases the Go types into a *Type, the one description every
// stage works with: the processor folds with Type.Apply, the command path
// decides with Type.Decide, the query layer renders with Type.StateJSON.
// Nothing here touches Kafka or storage.
package entity
