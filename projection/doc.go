// Package projection folds events of one or more entity types into state
// keyed by something else than the events' key: which orders a customer
// has open, which users hold a role. docs/projections.md is the design and
// the proof that every input is applied exactly once.
//
// A Projection maps each source event (with the source entity's state
// before and after it, computed by the fold's own code) to zero or more
// (key, input) pairs. The re-keying stage, a subscriber (package
// subscriber) with a Sink, writes them to the projection's repartition
// topic in the order of each source partition; the fold stage is an
// entity type of kind projection over that topic (its table, changelog,
// standbys and queries are an entity's), whose Evolve applies an input only
// if its origin is above the key's watermark for its source partition.
//
//	source events ──► re-keying (subscriber, refold) ──► <app>-<name>-repartition ──► fold (group table) ──► GET /v1/projections/{name}/{key}
package projection
