package orders

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/eventfold/eventfold/codec"
	"github.com/eventfold/eventfold/entity"
)

// ErrInvalidTransition is wrapped by every error Evolve returns: the event
// is not allowed in the order's current state.
var ErrInvalidTransition = errors.New("orders: invalid transition")

// Status is where an order is in its lifecycle. The zero Status means the
// order does not exist yet (no OrderCreated applied).
type Status string

// The statuses of an order.
const (
	StatusCreated   Status = "created"
	StatusApproved  Status = "approved"
	StatusShipped   Status = "shipped"
	StatusCancelled Status = "cancelled"
)

// Order is the folded state of one order. The order id is the entity key and
// is not repeated here. Its JSON encoding is deterministic: Items is sorted by
// SKU and empty fields are omitted.
type Order struct {
	Status     Status `json:"status"`
	CustomerID string `json:"customer_id"`
	CreatedAt  string `json:"created_at,omitempty"`
	// Items holds one entry per SKU, sorted by SKU.
	Items []Item `json:"items,omitempty"`
	// TotalCents is the sum of Quantity × PriceCents over Items.
	TotalCents     int64  `json:"total_cents"`
	ApprovedBy     string `json:"approved_by,omitempty"`
	Carrier        string `json:"carrier,omitempty"`
	TrackingNumber string `json:"tracking_number,omitempty"`
	CancelReason   string `json:"cancel_reason,omitempty"`
}

// Item is one product line of an order.
type Item struct {
	SKU        string `json:"sku"`
	Quantity   int    `json:"quantity"`
	PriceCents int64  `json:"price_cents"`
}

// Exists reports whether OrderCreated has been applied.
func (o Order) Exists() bool { return o.Status != "" }

// Item returns the item with the given SKU, if the order has one.
func (o Order) Item(sku string) (Item, bool) {
	i, ok := o.find(sku)
	if !ok {
		return Item{}, false
	}
	return o.Items[i], true
}

func (o Order) find(sku string) (int, bool) {
	return slices.BinarySearchFunc(o.Items, sku, func(it Item, sku string) int { return strings.Compare(it.SKU, sku) })
}

// Entity declares orders for a processor: entity name "orders", events topic
// "orders-events", JSON state, and the commands of Commands decided by Decide.
var Entity = entity.Entity[Order, Event]{
	Name:     "orders",
	Events:   Events,
	State:    codec.JSON[Order]{},
	Evolve:   Evolve,
	Commands: entity.Commands[Order, Event, Command]{Codec: Commands, Decide: Decide},
}

// Evolve applies one event to an order and returns the new order. It is pure
// and never modifies o (Items is copied before it changes). The first event
// of an order sees the zero Order.
//
// Rules; breaking one returns an error wrapping ErrInvalidTransition:
//   - OrderCreated must come first, exactly once, with a customer id.
//   - ItemAdded and QuantityChanged only while the order is created (not
//     after approval, shipping or cancellation); quantities must be > 0.
//   - ItemAdded needs a SKU not yet in the order and a price >= 0;
//     QuantityChanged needs a SKU already in it.
//   - OrderApproved only from created, with at least one item.
//   - OrderShipped only from approved (a cancelled order cannot ship).
//   - OrderCancelled from created or approved: not after shipping, not twice.
func Evolve(o Order, e Event) (Order, error) {
	if _, first := e.(*OrderCreated); !first && !o.Exists() {
		return o, invalid(e, "order does not exist (no OrderCreated yet)")
	}
	switch e := e.(type) {
	case *OrderCreated:
		if e == nil {
			break
		}
		if o.Exists() {
			return o, invalid(e, "order already created")
		}
		if e.CustomerID == "" {
			return o, invalid(e, "customer_id is required")
		}
		return Order{Status: StatusCreated, CustomerID: e.CustomerID, CreatedAt: e.CreatedAt}, nil

	case *ItemAdded:
		if e == nil {
			break
		}
		if err := o.editable(e); err != nil {
			return o, err
		}
		if e.SKU == "" {
			return o, invalid(e, "sku is required")
		}
		if e.Quantity <= 0 {
			return o, invalid(e, "quantity must be > 0, got %d", e.Quantity)
		}
		if e.PriceCents < 0 {
			return o, invalid(e, "price_cents must be >= 0, got %d", e.PriceCents)
		}
		i, found := o.find(e.SKU)
		if found {
			return o, invalid(e, "sku %q is already in the order (use QuantityChanged)", e.SKU)
		}
		o.Items = slices.Insert(slices.Clone(o.Items), i, Item{SKU: e.SKU, Quantity: e.Quantity, PriceCents: e.PriceCents})
		o.TotalCents = total(o.Items)
		return o, nil

	case *QuantityChanged:
		if e == nil {
			break
		}
		if err := o.editable(e); err != nil {
			return o, err
		}
		if e.Quantity <= 0 {
			return o, invalid(e, "quantity must be > 0, got %d", e.Quantity)
		}
		i, found := o.find(e.SKU)
		if !found {
			return o, invalid(e, "sku %q is not in the order", e.SKU)
		}
		o.Items = slices.Clone(o.Items)
		o.Items[i].Quantity = e.Quantity
		o.TotalCents = total(o.Items)
		return o, nil

	case *OrderApproved:
		if e == nil {
			break
		}
		if o.Status != StatusCreated {
			return o, invalid(e, "order is %s, only a created order can be approved", o.Status)
		}
		if len(o.Items) == 0 {
			return o, invalid(e, "order has no items")
		}
		o.Status = StatusApproved
		o.ApprovedBy = e.ApprovedBy
		return o, nil

	case *OrderShipped:
		if e == nil {
			break
		}
		if o.Status != StatusApproved {
			return o, invalid(e, "order is %s, only an approved order can ship", o.Status)
		}
		o.Status = StatusShipped
		o.Carrier = e.Carrier
		o.TrackingNumber = e.TrackingNumber
		return o, nil

	case *OrderCancelled:
		if e == nil {
			break
		}
		switch o.Status {
		case StatusShipped:
			return o, invalid(e, "order has shipped")
		case StatusCancelled:
			return o, invalid(e, "order is already cancelled")
		}
		o.Status = StatusCancelled
		o.CancelReason = e.Reason
		return o, nil
	}
	return o, fmt.Errorf("%w: unsupported event %T (%v)", ErrInvalidTransition, e, e)
}

// editable rejects item changes once the order left the created status.
func (o Order) editable(e Event) error {
	if o.Status != StatusCreated {
		return invalid(e, "order is %s, items can change only while it is created", o.Status)
	}
	return nil
}

func total(items []Item) int64 {
	var t int64
	for _, it := range items {
		t += int64(it.Quantity) * it.PriceCents
	}
	return t
}

// invalid builds an error wrapping ErrInvalidTransition that names the event.
func invalid(e Event, format string, args ...any) error {
	name := Events.TypeOf(e)
	if name == "" {
		name = fmt.Sprintf("%T", e)
	}
	return &transitionError{event: name, detail: fmt.Sprintf(format, args...)}
}

// transitionError is an error of Evolve. Its detail (the broken rule, without
// the event name) is what Decide turns into a rejection reason.
type transitionError struct{ event, detail string }

func (e *transitionError) Error() string {
	return fmt.Sprintf("%v: %s: %s", ErrInvalidTransition, e.event, e.detail)
}

func (e *transitionError) Unwrap() error { return ErrInvalidTransition }
