package orders_test

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/eventfold/eventfold"
	"github.com/eventfold/eventfold/codec"
	"github.com/eventfold/eventfold/demo/orders"
	"github.com/eventfold/eventfold/entity"
)

// decideAndFold runs Decide on the state after history and, when it accepts,
// folds the events it returned with Evolve, failing the test if one does not
// apply.
func decideAndFold(t *testing.T, history []orders.Event, cmd orders.Command) (before orders.Order, events []orders.Event, after orders.Order, err error) {
	t.Helper()
	before = fold(t, history...)
	snapshot := before
	snapshot.Items = slices.Clone(before.Items)
	events, err = orders.Decide(before, cmd)
	if !reflect.DeepEqual(before, snapshot) {
		t.Fatalf("Decide modified its input: %+v, was %+v", before, snapshot)
	}
	after = before
	for i, e := range events {
		var ferr error
		if after, ferr = orders.Evolve(after, e); ferr != nil {
			t.Fatalf("event %d of %d (%T) returned by Decide does not apply: %v", i+1, len(events), e, ferr)
		}
	}
	return before, events, after, err
}

func TestDecideAccepted(t *testing.T) {
	open := []orders.Event{created, addBook}
	for _, tc := range []struct {
		name    string
		history []orders.Event
		cmd     orders.Command
		want    []orders.Event
		check   func(t *testing.T, o orders.Order)
	}{
		{"create order", nil, &orders.CreateOrder{CustomerID: "user-000007"},
			[]orders.Event{&orders.OrderCreated{CustomerID: "user-000007"}}, nil},
		{"create order with time", nil, &orders.CreateOrder{CustomerID: "user-000007", CreatedAt: "2024-01-01T10:00:00Z"},
			[]orders.Event{created}, nil},
		{"place order emits one event per item", nil,
			&orders.PlaceOrder{CustomerID: "user-000007", CreatedAt: "2024-01-01T10:00:00Z", Items: []orders.Item{
				{SKU: "MUG-BLUE", Quantity: 2, PriceCents: 899},
				{SKU: "BOOK-0042", Quantity: 5, PriceCents: 1999},
			}},
			[]orders.Event{created, addMug, addBook},
			func(t *testing.T, o orders.Order) {
				if o.Status != orders.StatusCreated || len(o.Items) != 2 || o.TotalCents != 5*1999+2*899 {
					t.Errorf("placed order = %+v", o)
				}
			}},
		{"place order with one item", nil,
			&orders.PlaceOrder{CustomerID: "c", Items: []orders.Item{{SKU: "GIFT", Quantity: 1}}},
			[]orders.Event{&orders.OrderCreated{CustomerID: "c"}, &orders.ItemAdded{SKU: "GIFT", Quantity: 1}}, nil},
		{"add item", []orders.Event{created}, &orders.AddItem{SKU: "BOOK-0042", Quantity: 5, PriceCents: 1999},
			[]orders.Event{addBook}, nil},
		{"add second item", open, &orders.AddItem{SKU: "MUG-BLUE", Quantity: 2, PriceCents: 899},
			[]orders.Event{addMug}, nil},
		{"change quantity 5 to 6", open, &orders.ChangeQuantity{SKU: "BOOK-0042", Quantity: 6},
			[]orders.Event{&orders.QuantityChanged{SKU: "BOOK-0042", Quantity: 6}},
			func(t *testing.T, o orders.Order) {
				if it, _ := o.Item("BOOK-0042"); it.Quantity != 6 || o.TotalCents != 6*1999 {
					t.Errorf("after change: %+v", o)
				}
			}},
		{"change quantity down", open, &orders.ChangeQuantity{SKU: "BOOK-0042", Quantity: 1},
			[]orders.Event{&orders.QuantityChanged{SKU: "BOOK-0042", Quantity: 1}}, nil},
		{"approve", open, &orders.ApproveOrder{ApprovedBy: "clerk-ana"}, []orders.Event{approved}, nil},
		{"approve anonymously", open, &orders.ApproveOrder{}, []orders.Event{&orders.OrderApproved{}}, nil},
		{"ship", []orders.Event{created, addBook, approved}, &orders.ShipOrder{Carrier: "DHL", TrackingNumber: "DH0000000042"},
			[]orders.Event{shipped},
			func(t *testing.T, o orders.Order) {
				if o.Status != orders.StatusShipped || o.Carrier != "DHL" {
					t.Errorf("after ship: %+v", o)
				}
			}},
		{"cancel created", []orders.Event{created}, &orders.CancelOrder{Reason: "customer request"}, []orders.Event{cancelled}, nil},
		{"cancel approved", []orders.Event{created, addBook, approved}, &orders.CancelOrder{Reason: "customer request"},
			[]orders.Event{cancelled}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, events, after, err := decideAndFold(t, tc.history, tc.cmd)
			if err != nil {
				t.Fatalf("Decide: %v", err)
			}
			if !reflect.DeepEqual(events, tc.want) {
				t.Errorf("Decide = %s, want %s", encodeAll(t, events), encodeAll(t, tc.want))
			}
			if tc.check != nil {
				tc.check(t, after)
			}
		})
	}
}

func TestDecideRejected(t *testing.T) {
	open := []orders.Event{created, addBook}
	isApproved := []orders.Event{created, addBook, approved}
	isShipped := []orders.Event{created, addBook, approved, shipped}
	isCancelled := []orders.Event{created, addBook, cancelled}
	for _, tc := range []struct {
		name    string
		history []orders.Event
		cmd     orders.Command
		reason  string // the whole error text
	}{
		{"create twice", []orders.Event{created}, &orders.CreateOrder{CustomerID: "c"}, "cannot create order: order already exists"},
		{"create after cancel", isCancelled, &orders.CreateOrder{CustomerID: "c"}, "cannot create order: order already exists"},
		{"create without customer", nil, &orders.CreateOrder{}, "cannot create order: customer_id is required"},
		{"create with bad time", nil, &orders.CreateOrder{CustomerID: "c", CreatedAt: "today"},
			`cannot create order: created_at must be an RFC 3339 time, got "today"`},

		{"place existing order", []orders.Event{created}, &orders.PlaceOrder{CustomerID: "c", Items: []orders.Item{{SKU: "A", Quantity: 1}}},
			"cannot place order: order already exists"},
		{"place without items", nil, &orders.PlaceOrder{CustomerID: "c"}, "cannot place order: no items"},
		{"place with empty items", nil, &orders.PlaceOrder{CustomerID: "c", Items: []orders.Item{}}, "cannot place order: no items"},
		{"place with duplicate sku", nil, &orders.PlaceOrder{CustomerID: "c", Items: []orders.Item{
			{SKU: "A", Quantity: 1}, {SKU: "B", Quantity: 1}, {SKU: "A", Quantity: 2}}},
			`cannot place order: sku "A" is listed twice`},
		{"place without customer", nil, &orders.PlaceOrder{Items: []orders.Item{{SKU: "A", Quantity: 1}}},
			"cannot place order: customer_id is required"},
		{"place with bad item", nil, &orders.PlaceOrder{CustomerID: "c", Items: []orders.Item{
			{SKU: "A", Quantity: 1}, {SKU: "B", Quantity: 0}}},
			"cannot place order: item 2: quantity must be > 0, got 0"},
		{"place with item without sku", nil, &orders.PlaceOrder{CustomerID: "c", Items: []orders.Item{{Quantity: 1}, {Quantity: 1}}},
			"cannot place order: item 1: sku is required"},
		{"place with bad time", nil, &orders.PlaceOrder{CustomerID: "c", CreatedAt: "2024-01-01", Items: []orders.Item{{SKU: "A", Quantity: 1}}},
			`cannot place order: created_at must be an RFC 3339 time, got "2024-01-01"`},

		{"add to missing order", nil, &orders.AddItem{SKU: "A", Quantity: 1}, "cannot add item: order does not exist"},
		{"add known sku", open, &orders.AddItem{SKU: "BOOK-0042", Quantity: 1, PriceCents: 1999},
			`cannot add item: sku "BOOK-0042" is already in the order (use ChangeQuantity)`},
		{"add without sku", open, &orders.AddItem{Quantity: 1}, "cannot add item: sku is required"},
		{"add quantity 0", open, &orders.AddItem{SKU: "A"}, "cannot add item: quantity must be > 0, got 0"},
		{"add negative price", open, &orders.AddItem{SKU: "A", Quantity: 1, PriceCents: -5}, "cannot add item: price_cents must be >= 0, got -5"},
		{"add after approval", isApproved, &orders.AddItem{SKU: "A", Quantity: 1},
			"cannot add item: order is approved, items can change only while it is created"},
		{"add after shipping", isShipped, &orders.AddItem{SKU: "BOOK-0042", Quantity: 1},
			"cannot add item: order is shipped, items can change only while it is created"},

		{"change in missing order", nil, &orders.ChangeQuantity{SKU: "A", Quantity: 1}, "cannot change quantity: order does not exist"},
		{"change unknown sku", open, &orders.ChangeQuantity{SKU: "MUG-BLUE", Quantity: 6}, `cannot change quantity: unknown sku "MUG-BLUE"`},
		{"change to the same quantity is a no-op", open, &orders.ChangeQuantity{SKU: "BOOK-0042", Quantity: 5},
			`cannot change quantity: sku "BOOK-0042" already has quantity 5`},
		{"change to 0", open, &orders.ChangeQuantity{SKU: "BOOK-0042"}, "cannot change quantity: quantity must be > 0, got 0"},
		{"change after approval", isApproved, &orders.ChangeQuantity{SKU: "BOOK-0042", Quantity: 6},
			"cannot change quantity: order is approved, items can change only while it is created"},
		{"changing quantity after shipping is rejected", isShipped, &orders.ChangeQuantity{SKU: "BOOK-0042", Quantity: 6},
			"cannot change quantity: order is shipped, items can change only while it is created"},
		{"change after cancel", isCancelled, &orders.ChangeQuantity{SKU: "BOOK-0042", Quantity: 6},
			"cannot change quantity: order is cancelled, items can change only while it is created"},

		{"approve missing order", nil, &orders.ApproveOrder{}, "cannot approve: order does not exist"},
		{"approve empty order", []orders.Event{created}, &orders.ApproveOrder{}, "cannot approve: order has no items"},
		{"approve twice", isApproved, &orders.ApproveOrder{}, "cannot approve: order is approved, only a created order can be approved"},
		{"approve cancelled", isCancelled, &orders.ApproveOrder{}, "cannot approve: order is cancelled, only a created order can be approved"},

		{"ship missing order", nil, &orders.ShipOrder{}, "cannot ship: order does not exist"},
		{"ship unapproved", open, &orders.ShipOrder{}, "cannot ship: order is created, only an approved order can ship"},
		{"shipping a cancelled order is rejected", isCancelled, &orders.ShipOrder{Carrier: "DHL"},
			"cannot ship: order is cancelled, only an approved order can ship"},
		{"ship twice", isShipped, &orders.ShipOrder{}, "cannot ship: order is shipped, only an approved order can ship"},

		{"cancel missing order", nil, &orders.CancelOrder{}, "cannot cancel: order does not exist"},
		{"cancel shipped", isShipped, &orders.CancelOrder{Reason: "late"}, "cannot cancel: order has shipped"},
		{"cancel twice", isCancelled, &orders.CancelOrder{}, "cannot cancel: order is already cancelled"},

		{"nil command", open, nil, "unsupported command <nil>"},
		{"typed nil command", open, (*orders.ShipOrder)(nil), "unsupported command *orders.ShipOrder"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, events, _, err := decideAndFold(t, tc.history, tc.cmd)
			if !errors.Is(err, orders.ErrRejected) {
				t.Fatalf("err = %v, want ErrRejected", err)
			}
			if err.Error() != tc.reason {
				t.Errorf("reason = %q\n      want %q", err, tc.reason)
			}
			if events != nil {
				t.Errorf("rejected, yet events %v", events)
			}
		})
	}
}

// A rejection taken from an Evolve rule still says so, and the processor's
// wrapping matches both the domain's and eventfold's sentinel.
func TestRejectionWrapping(t *testing.T) {
	_, err := orders.Decide(fold(t, created, addBook, cancelled), &orders.ShipOrder{})
	if !errors.Is(err, orders.ErrRejected) || !errors.Is(err, orders.ErrInvalidTransition) {
		t.Fatalf("err = %v, want ErrRejected and ErrInvalidTransition", err)
	}
	if !strings.HasPrefix(err.Error(), "cannot ship: order is cancelled") {
		t.Errorf("reason = %q", err)
	}
	wrapped := &entity.RejectedError{Reason: err.Error(), Err: err}
	if !errors.Is(wrapped, orders.ErrRejected) || !errors.Is(wrapped, eventfold.ErrRejected) {
		t.Errorf("processor wrapping %v loses a sentinel", wrapped)
	}
	_, err = orders.Decide(fold(t, created), &orders.PlaceOrder{CustomerID: "c"})
	if !errors.Is(err, orders.ErrRejected) || errors.Is(err, orders.ErrInvalidTransition) {
		t.Errorf("Decide-only rule: err = %v", err)
	}
}

// Random commands against the states they lead to: whatever Decide accepts
// folds with Evolve (checked by decideAndFold), whatever it refuses wraps
// ErrRejected, and a good share of both happen.
func TestDecideEventsAlwaysApply(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	skus := []string{"", "A", "B", "C"}
	pick := func() string { return skus[rng.IntN(len(skus))] }
	randomCommand := func() orders.Command {
		switch rng.IntN(8) {
		case 0:
			return &orders.CreateOrder{CustomerID: []string{"", "c"}[rng.IntN(2)]}
		case 1:
			items := make([]orders.Item, rng.IntN(4))
			for i := range items {
				items[i] = orders.Item{SKU: pick(), Quantity: rng.IntN(3), PriceCents: int64(rng.IntN(3) - 1)}
			}
			return &orders.PlaceOrder{CustomerID: "c", Items: items}
		case 2, 3:
			return &orders.AddItem{SKU: pick(), Quantity: rng.IntN(3), PriceCents: int64(rng.IntN(3) - 1)}
		case 4:
			return &orders.ChangeQuantity{SKU: pick(), Quantity: rng.IntN(4)}
		case 5:
			return &orders.ApproveOrder{}
		case 6:
			return &orders.ShipOrder{}
		default:
			return &orders.CancelOrder{}
		}
	}
	accepted, rejected := map[string]int{}, map[string]int{}
	for range 200 {
		var history []orders.Event
		for range 12 {
			cmd := randomCommand()
			_, events, _, err := decideAndFold(t, history, cmd)
			switch {
			case err == nil && len(events) > 0:
				accepted[orders.Commands.TypeOf(cmd)]++
				history = append(history, events...)
			case errors.Is(err, orders.ErrRejected):
				rejected[orders.Commands.TypeOf(cmd)]++
			default:
				t.Fatalf("Decide(%+v) = %v, %v", cmd, events, err)
			}
		}
	}
	for _, typ := range orders.Commands.Types() {
		if accepted[typ] == 0 || rejected[typ] == 0 {
			t.Errorf("%s: %d accepted, %d rejected; want both", typ, accepted[typ], rejected[typ])
		}
	}
}

func TestCommandsRoundTrip(t *testing.T) {
	cases := []struct {
		cmd  orders.Command
		json string
	}{
		{&orders.CreateOrder{CustomerID: "user-000007"}, `{"type":"CreateOrder","customer_id":"user-000007"}`},
		{&orders.CreateOrder{CustomerID: "c", CreatedAt: "2024-01-01T10:00:00Z"}, `{"type":"CreateOrder","customer_id":"c","created_at":"2024-01-01T10:00:00Z"}`},
		{&orders.PlaceOrder{CustomerID: "c-1", Items: []orders.Item{{SKU: "BOOK-1", Quantity: 5, PriceCents: 1250}, {SKU: "MUG", Quantity: 1, PriceCents: 0}}},
			`{"type":"PlaceOrder","customer_id":"c-1","items":[{"sku":"BOOK-1","quantity":5,"price_cents":1250},{"sku":"MUG","quantity":1,"price_cents":0}]}`},
		{&orders.AddItem{SKU: "BOOK-0042", Quantity: 5, PriceCents: 1999}, `{"type":"AddItem","sku":"BOOK-0042","quantity":5,"price_cents":1999}`},
		{&orders.ChangeQuantity{SKU: "BOOK-0042", Quantity: 6}, `{"type":"ChangeQuantity","sku":"BOOK-0042","quantity":6}`},
		{&orders.ApproveOrder{ApprovedBy: "clerk-ana"}, `{"type":"ApproveOrder","approved_by":"clerk-ana"}`},
		{&orders.ApproveOrder{}, `{"type":"ApproveOrder"}`},
		{&orders.ShipOrder{Carrier: "DHL", TrackingNumber: "DH0000000042"}, `{"type":"ShipOrder","carrier":"DHL","tracking_number":"DH0000000042"}`},
		{&orders.ShipOrder{}, `{"type":"ShipOrder"}`},
		{&orders.CancelOrder{Reason: "customer request"}, `{"type":"CancelOrder","reason":"customer request"}`},
	}
	seen := map[string]bool{}
	for _, tc := range cases {
		b, err := orders.Commands.Encode(tc.cmd)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != tc.json {
			t.Errorf("Encode(%+v) = %s, want %s", tc.cmd, b, tc.json)
		}
		back, err := orders.Commands.Decode(b)
		if err != nil {
			t.Fatalf("Decode(%s): %v", b, err)
		}
		if !reflect.DeepEqual(back, tc.cmd) {
			t.Errorf("Decode(%s) = %#v, want %#v", b, back, tc.cmd)
		}
		seen[orders.Commands.TypeOf(tc.cmd)] = true
	}
	for _, typ := range orders.Commands.Types() {
		if !seen[typ] {
			t.Errorf("no round-trip case for %s", typ)
		}
	}
	if _, err := orders.Commands.Decode([]byte(`{"type":"RefundOrder"}`)); !errors.Is(err, codec.ErrUnknownType) {
		t.Errorf("unknown type: err = %v, want ErrUnknownType", err)
	}
	// Events are not commands.
	if _, err := orders.Commands.Decode([]byte(`{"type":"OrderShipped"}`)); !errors.Is(err, codec.ErrUnknownType) {
		t.Errorf("event as command: err = %v, want ErrUnknownType", err)
	}
}

func TestEntityCommands(t *testing.T) {
	typ, err := orders.Entity.Type()
	if err != nil {
		t.Fatal(err)
	}
	if !typ.HasCommands() {
		t.Fatal("orders.Entity has no commands")
	}
	want := []string{"AddItem", "ApproveOrder", "CancelOrder", "ChangeQuantity", "CreateOrder", "PlaceOrder", "ShipOrder"}
	if got := typ.CommandTypes(); !reflect.DeepEqual(got, want) {
		t.Errorf("CommandTypes = %v, want %v", got, want)
	}
}

func encodeAll(t *testing.T, events []orders.Event) string {
	t.Helper()
	var parts []string
	for _, e := range events {
		b, err := orders.Events.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, string(b))
	}
	return "[" + strings.Join(parts, " ") + "]"
}
