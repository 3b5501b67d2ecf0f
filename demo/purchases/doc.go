// Package purchases is the demo's process manager: when an order ships,
// the order's customer (the user whose id is the order's customer_id)
// records the purchase with a RecordPurchase command, once, even though
// the subscriber delivers at least once.
package purchases
