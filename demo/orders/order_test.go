package orders_test

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/eventfold/eventfold/codec"
	"github.com/eventfold/eventfold/demo/orders"
)

// fold applies events to the zero Order and fails the test on an error.
func fold(t *testing.T, events ...orders.Event) orders.Order {
	t.Helper()
	var o orders.Order
	for i, e := range events {
		var err error
		if o, err = orders.Evolve(o, e); err != nil {
			t.Fatalf("history event %d (%T): %v", i, e, err)
		}
	}
	return o
}

var (
	created   = &orders.OrderCreated{CustomerID: "user-000007", CreatedAt: "2024-01-01T10:00:00Z"}
	addBook   = &orders.ItemAdded{SKU: "BOOK-0042", Quantity: 5, PriceCents: 1999}
	addMug    = &orders.ItemAdded{SKU: "MUG-BLUE", Quantity: 2, PriceCents: 899}
	approved  = &orders.OrderApproved{ApprovedBy: "clerk-ana"}
	shipped   = &orders.OrderShipped{Carrier: "DHL", TrackingNumber: "DH0000000042"}
	cancelled = &orders.OrderCancelled{Reason: "customer request"}
)

func TestEvolveValid(t *testing.T) {
	book := orders.Item{SKU: "BOOK-0042", Quantity: 5, PriceCents: 1999}
	mug := orders.Item{SKU: "MUG-BLUE", Quantity: 2, PriceCents: 899}
	base := orders.Order{Status: orders.StatusCreated, CustomerID: "user-000007", CreatedAt: "2024-01-01T10:00:00Z"}
	with := func(o orders.Order, f func(*orders.Order)) orders.Order { f(&o); return o }

	for _, tc := range []struct {
		name    string
		history []orders.Event
		event   orders.Event
		want    orders.Order
	}{
		{"create", nil, created, base},
		{"create without time", nil, &orders.OrderCreated{CustomerID: "c"}, orders.Order{Status: orders.StatusCreated, CustomerID: "c"}},
		{"add item", []orders.Event{created}, addBook,
			with(base, func(o *orders.Order) { o.Items = []orders.Item{book}; o.TotalCents = 5 * 1999 })},
		{"add second item keeps items sorted by sku", []orders.Event{created, addMug}, addBook,
			with(base, func(o *orders.Order) { o.Items = []orders.Item{book, mug}; o.TotalCents = 5*1999 + 2*899 })},
		{"free item", []orders.Event{created}, &orders.ItemAdded{SKU: "GIFT", Quantity: 1},
			with(base, func(o *orders.Order) { o.Items = []orders.Item{{SKU: "GIFT", Quantity: 1}} })},
		{"quantity 5 to 6", []orders.Event{created, addBook, addMug}, &orders.QuantityChanged{SKU: "BOOK-0042", Quantity: 6},
			with(base, func(o *orders.Order) {
				o.Items = []orders.Item{{SKU: "BOOK-0042", Quantity: 6, PriceCents: 1999}, mug}
				o.TotalCents = 6*1999 + 2*899
			})},
		{"quantity 5 to 1", []orders.Event{created, addBook}, &orders.QuantityChanged{SKU: "BOOK-0042", Quantity: 1},
			with(base, func(o *orders.Order) {
				o.Items = []orders.Item{{SKU: "BOOK-0042", Quantity: 1, PriceCents: 1999}}
				o.TotalCents = 1999
			})},
		{"quantity unchanged", []orders.Event{created, addBook}, &orders.QuantityChanged{SKU: "BOOK-0042", Quantity: 5},
			with(base, func(o *orders.Order) { o.Items = []orders.Item{book}; o.TotalCents = 5 * 1999 })},
		{"approve", []orders.Event{created, addBook}, approved,
			with(base, func(o *orders.Order) {
				o.Status, o.ApprovedBy, o.Items, o.TotalCents = orders.StatusApproved, "clerk-ana", []orders.Item{book}, 5*1999
			})},
		{"ship", []orders.Event{created, addBook, approved}, shipped,
			with(base, func(o *orders.Order) {
				o.Status, o.ApprovedBy, o.Items, o.TotalCents = orders.StatusShipped, "clerk-ana", []orders.Item{book}, 5*1999
				o.Carrier, o.TrackingNumber = "DHL", "DH0000000042"
			})},
		{"cancel created", []orders.Event{created}, cancelled,
			with(base, func(o *orders.Order) { o.Status, o.CancelReason = orders.StatusCancelled, "customer request" })},
		{"cancel created with items", []orders.Event{created, addBook}, cancelled,
			with(base, func(o *orders.Order) {
				o.Status, o.CancelReason, o.Items, o.TotalCents = orders.StatusCancelled, "customer request", []orders.Item{book}, 5*1999
			})},
		{"cancel approved", []orders.Event{created, addBook, approved}, &orders.OrderCancelled{},
			with(base, func(o *orders.Order) {
				o.Status, o.ApprovedBy, o.Items, o.TotalCents = orders.StatusCancelled, "clerk-ana", []orders.Item{book}, 5*1999
			})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := fold(t, tc.history...)
			got, err := orders.Evolve(before, tc.event)
			if err != nil {
				t.Fatalf("Evolve: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Evolve =\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}
}

func TestEvolveInvalid(t *testing.T) {
	for _, tc := range []struct {
		name    string
		history []orders.Event
		event   orders.Event
		reason  string // substring of the error
	}{
		{"item before create", nil, addBook, "does not exist"},
		{"quantity before create", nil, &orders.QuantityChanged{SKU: "BOOK-0042", Quantity: 1}, "does not exist"},
		{"approve before create", nil, approved, "does not exist"},
		{"ship before create", nil, shipped, "does not exist"},
		{"cancel before create", nil, cancelled, "does not exist"},
		{"create twice", []orders.Event{created}, created, "already created"},
		{"create after cancel", []orders.Event{created, cancelled}, created, "already created"},
		{"create without customer", nil, &orders.OrderCreated{}, "customer_id"},

		{"add without sku", []orders.Event{created}, &orders.ItemAdded{Quantity: 1, PriceCents: 1}, "sku is required"},
		{"add quantity 0", []orders.Event{created}, &orders.ItemAdded{SKU: "A", Quantity: 0, PriceCents: 1}, "quantity must be > 0"},
		{"add negative quantity", []orders.Event{created}, &orders.ItemAdded{SKU: "A", Quantity: -2, PriceCents: 1}, "quantity must be > 0"},
		{"add negative price", []orders.Event{created}, &orders.ItemAdded{SKU: "A", Quantity: 1, PriceCents: -1}, "price_cents"},
		{"add sku twice", []orders.Event{created, addBook}, addBook, "already in the order"},
		{"add after approve", []orders.Event{created, addBook, approved}, addMug, "order is approved"},
		{"add after ship", []orders.Event{created, addBook, approved, shipped}, addMug, "order is shipped"},
		{"add after cancel", []orders.Event{created, cancelled}, addMug, "order is cancelled"},

		{"change unknown sku", []orders.Event{created, addBook}, &orders.QuantityChanged{SKU: "MUG-BLUE", Quantity: 6}, "not in the order"},
		{"change in empty order", []orders.Event{created}, &orders.QuantityChanged{SKU: "BOOK-0042", Quantity: 6}, "not in the order"},
		{"change to 0", []orders.Event{created, addBook}, &orders.QuantityChanged{SKU: "BOOK-0042", Quantity: 0}, "quantity must be > 0"},
		{"change to negative", []orders.Event{created, addBook}, &orders.QuantityChanged{SKU: "BOOK-0042", Quantity: -1}, "quantity must be > 0"},
		{"change after approve", []orders.Event{created, addBook, approved}, &orders.QuantityChanged{SKU: "BOOK-0042", Quantity: 6}, "order is approved"},
		{"change after ship", []orders.Event{created, addBook, approved, shipped}, &orders.QuantityChanged{SKU: "BOOK-0042", Quantity: 6}, "order is shipped"},
		{"change after cancel", []orders.Event{created, addBook, cancelled}, &orders.QuantityChanged{SKU: "BOOK-0042", Quantity: 6}, "order is cancelled"},

		{"approve empty order", []orders.Event{created}, approved, "no items"},
		{"approve twice", []orders.Event{created, addBook, approved}, approved, "order is approved"},
		{"approve shipped", []orders.Event{created, addBook, approved, shipped}, approved, "order is shipped"},
		{"approve cancelled", []orders.Event{created, addBook, cancelled}, approved, "order is cancelled"},

		{"ship created", []orders.Event{created, addBook}, shipped, "order is created"},
		{"ship cancelled order is rejected", []orders.Event{created, addBook, cancelled}, shipped, "order is cancelled"},
		{"ship approved then cancelled", []orders.Event{created, addBook, approved, cancelled}, shipped, "order is cancelled"},
		{"ship twice", []orders.Event{created, addBook, approved, shipped}, shipped, "order is shipped"},

		{"cancel shipped", []orders.Event{created, addBook, approved, shipped}, cancelled, "has shipped"},
		{"cancel twice", []orders.Event{created, cancelled}, cancelled, "already cancelled"},

		{"nil event", []orders.Event{created}, nil, "unsupported event"},
		{"typed nil event", []orders.Event{created}, (*orders.ItemAdded)(nil), "unsupported event"},
		{"typed nil create", nil, (*orders.OrderCreated)(nil), "unsupported event"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := fold(t, tc.history...)
			got, err := orders.Evolve(before, tc.event)
			if !errors.Is(err, orders.ErrInvalidTransition) {
				t.Fatalf("err = %v, want ErrInvalidTransition", err)
			}
			if !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("err = %q, want it to mention %q", err, tc.reason)
			}
			if !reflect.DeepEqual(got, before) {
				t.Errorf("state changed on error:\n%+v\nwas\n%+v", got, before)
			}
		})
	}
}

func TestEvolveErrorNamesEvent(t *testing.T) {
	_, err := orders.Evolve(fold(t, created, addBook, cancelled), shipped)
	if want := "orders: invalid transition: OrderShipped: order is cancelled, only an approved order can ship"; err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
}

// Evolve must not modify its input: the processor and time-travel queries
// may keep older states around.
func TestEvolveDoesNotModifyInput(t *testing.T) {
	o := fold(t, created, addMug, addBook)
	items := slices.Clone(o.Items)
	for _, e := range []orders.Event{
		&orders.QuantityChanged{SKU: "BOOK-0042", Quantity: 6},
		&orders.ItemAdded{SKU: "APPLE-1KG", Quantity: 1, PriceCents: 349},
		&orders.ItemAdded{SKU: "ZEBRA", Quantity: 1, PriceCents: 1},
	} {
		if _, err := orders.Evolve(o, e); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(o.Items, items) {
			t.Fatalf("after %T: input items %v, were %v", e, o.Items, items)
		}
	}
}

func TestEventsRoundTrip(t *testing.T) {
	cases := []struct {
		event orders.Event
		json  string
	}{
		{created, `{"type":"OrderCreated","customer_id":"user-000007","created_at":"2024-01-01T10:00:00Z"}`},
		{&orders.OrderCreated{CustomerID: "c"}, `{"type":"OrderCreated","customer_id":"c"}`},
		{addBook, `{"type":"ItemAdded","sku":"BOOK-0042","quantity":5,"price_cents":1999}`},
		{&orders.QuantityChanged{SKU: "BOOK-0042", Quantity: 6}, `{"type":"QuantityChanged","sku":"BOOK-0042","quantity":6}`},
		{approved, `{"type":"OrderApproved","approved_by":"clerk-ana"}`},
		{&orders.OrderApproved{}, `{"type":"OrderApproved"}`},
		{shipped, `{"type":"OrderShipped","carrier":"DHL","tracking_number":"DH0000000042"}`},
		{&orders.OrderShipped{}, `{"type":"OrderShipped"}`},
		{cancelled, `{"type":"OrderCancelled","reason":"customer request"}`},
	}
	seen := map[string]bool{}
	for _, tc := range cases {
		b, err := orders.Events.Encode(tc.event)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != tc.json {
			t.Errorf("Encode(%+v) = %s, want %s", tc.event, b, tc.json)
		}
		back, err := orders.Events.Decode(b)
		if err != nil {
			t.Fatalf("Decode(%s): %v", b, err)
		}
		if !reflect.DeepEqual(back, tc.event) {
			t.Errorf("Decode(%s) = %#v, want %#v", b, back, tc.event)
		}
		seen[orders.Events.TypeOf(tc.event)] = true
	}
	for _, typ := range orders.Events.Types() {
		if !seen[typ] {
			t.Errorf("no round-trip case for %s", typ)
		}
	}
	if _, err := orders.Events.Decode([]byte(`{"type":"OrderRefunded"}`)); !errors.Is(err, codec.ErrUnknownType) {
		t.Errorf("unknown type: err = %v, want ErrUnknownType", err)
	}
}

func TestStateJSON(t *testing.T) {
	o := fold(t, created, addMug, addBook, &orders.QuantityChanged{SKU: "BOOK-0042", Quantity: 6}, approved)
	var c codec.JSON[orders.Order]
	b, err := c.Encode(o)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"status":"approved","customer_id":"user-000007","created_at":"2024-01-01T10:00:00Z",` +
		`"items":[{"sku":"BOOK-0042","quantity":6,"price_cents":1999},{"sku":"MUG-BLUE","quantity":2,"price_cents":899}],` +
		`"total_cents":13792,"approved_by":"clerk-ana"}`
	if string(b) != want {
		t.Errorf("state JSON\n%s\nwant\n%s", b, want)
	}
	back, err := c.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, o) {
		t.Errorf("round trip = %+v, want %+v", back, o)
	}
	// Folding through the codec (as the processor does) gives the same state.
	next, err := orders.Evolve(back, shipped)
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := orders.Evolve(o, shipped); !reflect.DeepEqual(next, want) {
		t.Errorf("fold after decode = %+v, want %+v", next, want)
	}
}

func TestItem(t *testing.T) {
	o := fold(t, created, addMug, addBook)
	if it, ok := o.Item("MUG-BLUE"); !ok || it.Quantity != 2 {
		t.Errorf("Item(MUG-BLUE) = %+v, %v", it, ok)
	}
	if _, ok := o.Item("NOPE"); ok {
		t.Error("Item(NOPE) found")
	}
	if (orders.Order{}).Exists() || !o.Exists() {
		t.Error("Exists is wrong")
	}
}

func TestEntity(t *testing.T) {
	typ, err := orders.Entity.Type()
	if err != nil {
		t.Fatal(err)
	}
	if typ.Name() != "orders" || typ.Topic() != "orders-events" {
		t.Errorf("name %q topic %q", typ.Name(), typ.Topic())
	}
	want := []string{"ItemAdded", "OrderApproved", "OrderCancelled", "OrderCreated", "OrderShipped", "QuantityChanged"}
	if got := typ.EventTypes(); !reflect.DeepEqual(got, want) {
		t.Errorf("EventTypes = %v, want %v", got, want)
	}
	if got, err := typ.CheckEvent([]byte(`{"type":"QuantityChanged","sku":"A","quantity":6}`)); err != nil || got != "QuantityChanged" {
		t.Errorf("CheckEvent = %q, %v", got, err)
	}
}
