package demo_test

import (
	"bytes"
	"testing"

	"github.com/eventfold/eventfold/codec"
	"github.com/eventfold/eventfold/demo"
	"github.com/eventfold/eventfold/demo/orders"
)

// itemAddedV2 is how a next generation of orders might add an item: with a
// discount. Embedding keeps it an orders.Event.
type itemAddedV2 struct {
	orders.ItemAdded
	DiscountCents int64 `json:"discount_cents"`
}

// newOrderEvents is the orders codec with ItemAdded at version 2 and an
// upcaster from the stored version 1 (no discount).
func newOrderEvents() *codec.Union[orders.Event] {
	return codec.NewUnion[orders.Event]().
		MustRegister("OrderCreated", func() orders.Event { return &orders.OrderCreated{} }).
		MustRegister("ItemAdded", func() orders.Event { return &itemAddedV2{} }).
		MustRegister("QuantityChanged", func() orders.Event { return &orders.QuantityChanged{} }).
		MustRegister("OrderApproved", func() orders.Event { return &orders.OrderApproved{} }).
		MustRegister("OrderShipped", func() orders.Event { return &orders.OrderShipped{} }).
		MustRegister("OrderCancelled", func() orders.Event { return &orders.OrderCancelled{} }).
		MustUpcast("ItemAdded", func() any { return &orders.ItemAdded{} }, func(old any) (any, error) {
			return &itemAddedV2{ItemAdded: *old.(*orders.ItemAdded)}, nil
		})
}

// evolveV2 folds the new shape: an item without a discount is the old
// event; the change touches nothing else.
func evolveV2(o orders.Order, e orders.Event) (orders.Order, error) {
	if v2, ok := e.(*itemAddedV2); ok && v2.DiscountCents == 0 {
		return orders.Evolve(o, &v2.ItemAdded)
	}
	return orders.Evolve(o, e)
}

// The check: every demo order, refolded from its stored events
// under the old codec and under the new one (stored events decoded by the
// upcaster), has the same state, byte for byte.
func TestRefoldUnderAnUpcastingCodecGivesEqualStates(t *testing.T) {
	events := demo.Generate(11, 20_000, 200_000)
	newCodec := newOrderEvents()
	oldStates, newStates := map[string]orders.Order{}, map[string]orders.Order{}
	upcast := 0
	for _, e := range events {
		if e.Entity != "orders" {
			continue
		}
		if ev, err := orders.Events.Decode(e.Data); err == nil {
			if s, err := orders.Evolve(oldStates[e.ID], ev); err == nil {
				oldStates[e.ID] = s
			}
		}
		ev, err := newCodec.Decode(e.Data)
		if err != nil {
			t.Fatalf("%s: the new codec does not decode %s: %v", e.ID, e.Data, err)
		}
		if _, ok := ev.(*itemAddedV2); ok {
			upcast++
		}
		if s, err := evolveV2(newStates[e.ID], ev); err == nil {
			newStates[e.ID] = s
		}
	}
	if len(oldStates) == 0 || len(oldStates) != len(newStates) || upcast == 0 {
		t.Fatalf("%d orders under the old codec, %d under the new, %d events upcast", len(oldStates), len(newStates), upcast)
	}
	for id, o := range oldStates {
		a, _ := orders.Entity.State.Encode(o)
		b, _ := orders.Entity.State.Encode(newStates[id])
		if !bytes.Equal(a, b) {
			t.Fatalf("%s: %s under the old codec, %s under the new", id, a, b)
		}
	}
	t.Logf("%d orders equal under both codecs (%d ItemAdded events upcast from version 1)", len(oldStates), upcast)
	// What the new codec writes carries its version and reads back.
	b, err := newCodec.Encode(&itemAddedV2{ItemAdded: orders.ItemAdded{SKU: "S", Quantity: 1, PriceCents: 5}, DiscountCents: 1})
	if err != nil || !bytes.Contains(b, []byte(`"v":2`)) {
		t.Fatalf("Encode: %s, %v", b, err)
	}
	if ev, err := newCodec.Decode(b); err != nil || ev.(*itemAddedV2).DiscountCents != 1 {
		t.Fatalf("Decode(%s): %v, %v", b, ev, err)
	}
}
