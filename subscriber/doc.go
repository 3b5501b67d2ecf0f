// Package subscriber runs side effects off the fold: handlers that see
// every event of the entity types they follow, in order per key, with the
// entity's exact state right after each event, outside the function that
// folds state (which may run an event more than once and must not block).
//
// A subscriber is declared in Go (Subscriber) next to the entity types it
// follows and runs inside the nodes in its own consumer group,
// <app>-sub-<name>, so it scales across nodes like the fold. Each node runs
// a Runner for the subscribers it is told to run. Webhook and
// ProcessManager are handlers built on it: POST each delivery to a URL, and
// turn an event of one entity into commands on others, once.
//
// docs/subscribers.md has the semantics: what is delivered, at-least-once
// and at-most-once, retries and dead letters, what happens on a rebalance
// and on a crash, and how to write an idempotent handler.
package subscriber
