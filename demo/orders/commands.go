package orders

import (
	"errors"
	"fmt"
	"time"

	"github.com/eventfold/eventfold/codec"
)

// ErrRejected is wrapped by every error Decide returns: the command is not
// allowed in the order's current state. The error's text is the bare,
// human-readable reason (for example "cannot ship: order is cancelled, only an
// approved order can ship"); when the reason comes from an Evolve rule the
// error also wraps ErrInvalidTransition.
var ErrRejected = errors.New("orders: command rejected")

// Command is implemented by the order commands, and only by them.
type Command interface{ orderCommand() }

// CreateOrder opens an empty order; Decide turns it into OrderCreated.
type CreateOrder struct {
	CustomerID string `json:"customer_id"`
	// CreatedAt is when the order was placed (RFC 3339), carried by the
	// command so that Decide stays pure. Optional.
	CreatedAt string `json:"created_at,omitempty"`
}

// PlaceOrder opens an order with its items in one command: OrderCreated
// followed by one ItemAdded per item, in the given order. It needs at least
// one item and no SKU twice.
type PlaceOrder struct {
	CustomerID string `json:"customer_id"`
	// CreatedAt is as in CreateOrder. Optional.
	CreatedAt string `json:"created_at,omitempty"`
	Items     []Item `json:"items"`
}

// AddItem puts a product that is not yet in the order into it (ItemAdded).
type AddItem struct {
	SKU        string `json:"sku"`
	Quantity   int    `json:"quantity"`
	PriceCents int64  `json:"price_cents"`
}

// ChangeQuantity sets the quantity of an item already in the order, for
// example from 5 to 6 (QuantityChanged). Setting the quantity the item
// already has is rejected: it would append an event that changes nothing.
type ChangeQuantity struct {
	SKU      string `json:"sku"`
	Quantity int    `json:"quantity"`
}

// ApproveOrder accepts a created order with at least one item (OrderApproved).
type ApproveOrder struct {
	ApprovedBy string `json:"approved_by,omitempty"`
}

// ShipOrder records that an approved order left the warehouse (OrderShipped).
type ShipOrder struct {
	Carrier        string `json:"carrier,omitempty"`
	TrackingNumber string `json:"tracking_number,omitempty"`
}

// CancelOrder cancels an order that has not shipped (OrderCancelled).
type CancelOrder struct {
	Reason string `json:"reason"`
}

func (*CreateOrder) orderCommand()    {}
func (*PlaceOrder) orderCommand()     {}
func (*AddItem) orderCommand()        {}
func (*ChangeQuantity) orderCommand() {}
func (*ApproveOrder) orderCommand()   {}
func (*ShipOrder) orderCommand()      {}
func (*CancelOrder) orderCommand()    {}

// Commands encodes and decodes order commands as JSON objects whose "type"
// field is the Go type name, e.g. {"type":"ChangeQuantity","sku":"BOOK-0042","quantity":6}.
var Commands = codec.NewUnion[Command]().
	MustRegister("CreateOrder", func() Command { return &CreateOrder{} }).
	MustRegister("PlaceOrder", func() Command { return &PlaceOrder{} }).
	MustRegister("AddItem", func() Command { return &AddItem{} }).
	MustRegister("ChangeQuantity", func() Command { return &ChangeQuantity{} }).
	MustRegister("ApproveOrder", func() Command { return &ApproveOrder{} }).
	MustRegister("ShipOrder", func() Command { return &ShipOrder{} }).
	MustRegister("CancelOrder", func() Command { return &CancelOrder{} })

// Decide validates a command against the current order and returns the
// events that carry it out, or an error wrapping ErrRejected that says why
// not. It is pure and never modifies o. The first command of an order sees
// the zero Order.
//
// Each command maps to one event (PlaceOrder to OrderCreated plus one
// ItemAdded per item). Decide builds the event(s) and rejects the command
// when Evolve would reject them, with Evolve's rule as the reason, so the
// lifecycle rules live in one place (see Evolve). On top of them, a command
// is rejected when
//   - it is not CreateOrder or PlaceOrder and the order does not exist;
//   - CreateOrder or PlaceOrder has a created_at that is not RFC 3339;
//   - PlaceOrder has no items or lists a SKU twice;
//   - ChangeQuantity sets the quantity the item already has (a no-op).
//
// The events Decide returns always apply with Evolve, in order, on o.
func Decide(o Order, c Command) ([]Event, error) {
	switch c := c.(type) {
	case *CreateOrder:
		if c == nil {
			break
		}
		const action = "cannot create order"
		if o.Exists() {
			return nil, reject(nil, "%s: order already exists", action)
		}
		if err := checkTime(action, c.CreatedAt); err != nil {
			return nil, err
		}
		return apply(o, action, &OrderCreated{CustomerID: c.CustomerID, CreatedAt: c.CreatedAt})

	case *PlaceOrder:
		if c == nil {
			break
		}
		const action = "cannot place order"
		if o.Exists() {
			return nil, reject(nil, "%s: order already exists", action)
		}
		if err := checkTime(action, c.CreatedAt); err != nil {
			return nil, err
		}
		if len(c.Items) == 0 {
			return nil, reject(nil, "%s: no items", action)
		}
		events := make([]Event, 0, 1+len(c.Items))
		events = append(events, &OrderCreated{CustomerID: c.CustomerID, CreatedAt: c.CreatedAt})
		seen := make(map[string]bool, len(c.Items))
		for _, it := range c.Items {
			if it.SKU != "" && seen[it.SKU] {
				return nil, reject(nil, "%s: sku %q is listed twice", action, it.SKU)
			}
			seen[it.SKU] = true
			events = append(events, &ItemAdded{SKU: it.SKU, Quantity: it.Quantity, PriceCents: it.PriceCents})
		}
		return apply(o, action, events...)

	case *AddItem:
		if c == nil {
			break
		}
		const action = "cannot add item"
		if _, dup := o.Item(c.SKU); dup && o.Status == StatusCreated {
			return nil, reject(nil, "%s: sku %q is already in the order (use ChangeQuantity)", action, c.SKU)
		}
		return apply(o, action, &ItemAdded{SKU: c.SKU, Quantity: c.Quantity, PriceCents: c.PriceCents})

	case *ChangeQuantity:
		if c == nil {
			break
		}
		const action = "cannot change quantity"
		if o.Status == StatusCreated && c.Quantity > 0 {
			it, found := o.Item(c.SKU)
			if !found {
				return nil, reject(nil, "%s: unknown sku %q", action, c.SKU)
			}
			if it.Quantity == c.Quantity {
				return nil, reject(nil, "%s: sku %q already has quantity %d", action, c.SKU, c.Quantity)
			}
		}
		return apply(o, action, &QuantityChanged{SKU: c.SKU, Quantity: c.Quantity})

	case *ApproveOrder:
		if c == nil {
			break
		}
		return apply(o, "cannot approve", &OrderApproved{ApprovedBy: c.ApprovedBy})

	case *ShipOrder:
		if c == nil {
			break
		}
		return apply(o, "cannot ship", &OrderShipped{Carrier: c.Carrier, TrackingNumber: c.TrackingNumber})

	case *CancelOrder:
		if c == nil {
			break
		}
		return apply(o, "cannot cancel", &OrderCancelled{Reason: c.Reason})
	}
	return nil, reject(nil, "unsupported command %T", c)
}

// apply folds events over o with Evolve and returns them, or the first
// failing rule as a rejection "action: rule" (prefixed with the item number
// when a batch holds several ItemAdded).
func apply(o Order, action string, events ...Event) ([]Event, error) {
	if _, create := events[0].(*OrderCreated); !create && !o.Exists() {
		return nil, reject(nil, "%s: order does not exist", action)
	}
	for i, e := range events {
		next, err := Evolve(o, e)
		if err != nil {
			if i > 0 {
				return nil, reject(err, "%s: item %d: %s", action, i, detail(err))
			}
			return nil, reject(err, "%s: %s", action, detail(err))
		}
		o = next
	}
	return events, nil
}

func checkTime(action, at string) error {
	if at == "" {
		return nil
	}
	if _, err := time.Parse(time.RFC3339, at); err != nil {
		return reject(nil, "%s: created_at must be an RFC 3339 time, got %q", action, at)
	}
	return nil
}

// detail is the rule an Evolve error names, without the event name.
func detail(err error) string {
	var te *transitionError
	if errors.As(err, &te) {
		return te.detail
	}
	return err.Error()
}

// rejection is the error of Decide: its text is the reason alone, it matches
// ErrRejected and unwraps to the Evolve error it came from, if any.
type rejection struct {
	reason string
	err    error
}

func reject(cause error, format string, args ...any) error {
	return &rejection{reason: fmt.Sprintf(format, args...), err: cause}
}

func (r *rejection) Error() string        { return r.reason }
func (r *rejection) Unwrap() error        { return r.err }
func (r *rejection) Is(target error) bool { return target == ErrRejected }
