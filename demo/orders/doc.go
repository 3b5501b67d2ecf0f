// Package orders is the order domain of the seed articles, declared as an
// eventfold entity type.
//
// An order's events, in the order a realistic lifecycle emits them:
//
//	OrderCreated ─► ItemAdded / QuantityChanged (5→6) … ─► OrderApproved ─► OrderShipped
//	      │                                                   │
//	      └──────────────────────► OrderCancelled ◄───────────┘
//
// Evolve folds them into an Order. It is pure and enforces the lifecycle:
// an invalid transition (for example shipping a cancelled order) returns an
// error wrapping ErrInvalidTransition, so the processor sends the event to the
// dead-letter topic and leaves the order unchanged. Entity is the
// entity.Entity to register with a processor; events are JSON objects with
// a "type" discriminator:
//
//	{"type":"ItemAdded","sku":"BOOK-0042","quantity":5,"price_cents":1999}
//
// The write side: Commands decodes the commands CreateOrder, PlaceOrder,
// AddItem, ChangeQuantity, ApproveOrder, ShipOrder and CancelOrder (JSON
// objects with a "type" discriminator, like the events), and the pure Decide
// validates one against the current Order and returns the events that carry
// it out — one, or OrderCreated plus an ItemAdded per item for PlaceOrder —
// or an error wrapping ErrRejected with a readable reason ("cannot ship:
// order is cancelled, only an approved order can ship"). Decide reuses
// Evolve's rules, so what it accepts always applies:
//
//	{"type":"ChangeQuantity","sku":"BOOK-0042","quantity":6}
//	  ⇒ {"type":"QuantityChanged","sku":"BOOK-0042","quantity":6}
package orders
