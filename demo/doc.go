// Package demo holds the reference domains from the seed articles and a
// deterministic event generator for tests, benchmarks and dev mode.
//
//	orders/  events   OrderCreated, ItemAdded, QuantityChanged (5→6), OrderApproved, OrderShipped, OrderCancelled
//	         commands CreateOrder, PlaceOrder (→ 1+n events), AddItem, ChangeQuantity, ApproveOrder, ShipOrder, CancelOrder
//	users/   events   UserCreated, UserUpdated, UserDeleted, UserLoggedIn, RoleAssigned, RoleUnassigned, PurchaseRecorded
//	         commands CreateUser, UpdateUser, DeleteUser, LogIn, AssignRole, UnassignRole, RecordPurchase
//
// Each subpackage exports its event family (Event, the Events union codec),
// its state, a pure Evolve, its command family (Command, the Commands union
// codec), a pure Decide whose refusals wrap ErrRejected, and a ready
// entity.Entity with Commands set. Entities returns both definitions,
// ready for a processor; Generate produces realistic, interleaved event
// streams for them with a small fraction of invalid transitions, so
// dead-letter paths are exercised too.
package demo
