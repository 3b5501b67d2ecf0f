package orders

import "github.com/eventfold/eventfold/codec"

// Event is implemented by the order events, and only by them.
type Event interface{ orderEvent() }

// OrderCreated opens an order. It must be the first event of an order.
type OrderCreated struct {
	CustomerID string `json:"customer_id"`
	// CreatedAt is when the order was placed (RFC 3339), carried by the
	// event so that Evolve stays pure. Optional.
	CreatedAt string `json:"created_at,omitempty"`
}

// ItemAdded puts a product that is not yet in the order into it.
type ItemAdded struct {
	SKU        string `json:"sku"`
	Quantity   int    `json:"quantity"`
	PriceCents int64  `json:"price_cents"`
}

// QuantityChanged sets the quantity of an item already in the order
// (for example from 5 to 6).
type QuantityChanged struct {
	SKU      string `json:"sku"`
	Quantity int    `json:"quantity"`
}

// OrderApproved accepts an order with at least one item for shipping.
type OrderApproved struct {
	ApprovedBy string `json:"approved_by,omitempty"`
}

// OrderShipped records that an approved order left the warehouse.
type OrderShipped struct {
	Carrier        string `json:"carrier,omitempty"`
	TrackingNumber string `json:"tracking_number,omitempty"`
}

// OrderCancelled cancels an order that has not shipped.
type OrderCancelled struct {
	Reason string `json:"reason"`
}

func (*OrderCreated) orderEvent()    {}
func (*ItemAdded) orderEvent()       {}
func (*QuantityChanged) orderEvent() {}
func (*OrderApproved) orderEvent()   {}
func (*OrderShipped) orderEvent()    {}
func (*OrderCancelled) orderEvent()  {}

// Events encodes and decodes order events as JSON objects whose "type"
// field is the Go type name, e.g. {"type":"OrderCancelled","reason":"..."}.
var Events = codec.NewUnion[Event]().
	MustRegister("OrderCreated", func() Event { return &OrderCreated{} }).
	MustRegister("ItemAdded", func() Event { return &ItemAdded{} }).
	MustRegister("QuantityChanged", func() Event { return &QuantityChanged{} }).
	MustRegister("OrderApproved", func() Event { return &OrderApproved{} }).
	MustRegister("OrderShipped", func() Event { return &OrderShipped{} }).
	MustRegister("OrderCancelled", func() Event { return &OrderCancelled{} })
