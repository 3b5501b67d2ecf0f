// Package demo holds the reference domains from the seed articles and a
// deterministic event generator for tests, benchmarks and dev mode.
//
//	orders/  OrderCreated, ItemAdded, QuantityChanged (5→6), OrderApproved, OrderShipped, OrderCancelled
//	users/   UserCreated, UserUpdated, UserDeleted, UserLoggedIn, RoleAssigned, RoleUnassigned
//
// Each subpackage exports its event family (Event, the Events union codec),
// its state, a pure Evolve and a ready processor.Entity. Entities returns
// both definitions, ready for a processor; Generate produces realistic,
// interleaved event streams for them with a small fraction of invalid
// transitions, so dead-letter paths are exercised too.
package demo
