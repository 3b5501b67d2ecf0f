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
// processor.Entity to register with a processor; events are JSON objects with
// a "type" discriminator:
//
//	{"type":"ItemAdded","sku":"BOOK-0042","quantity":5,"price_cents":1999}
package orders
