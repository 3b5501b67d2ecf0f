package orders_test

import (
	"errors"
	"fmt"

	"github.com/eventfold/eventfold/codec"
	"github.com/eventfold/eventfold/demo/orders"
)

// Fold an order's events, as the processor does, and print the state it
// stores. The quantity of BOOK-0042 goes from 5 to 6; shipping the cancelled
// order is an invalid transition, so the processor would dead-letter it and
// keep the state.
func Example() {
	events := []string{
		`{"type":"OrderCreated","customer_id":"user-000007"}`,
		`{"type":"ItemAdded","sku":"BOOK-0042","quantity":5,"price_cents":1999}`,
		`{"type":"QuantityChanged","sku":"BOOK-0042","quantity":6}`,
		`{"type":"OrderCancelled","reason":"customer request"}`,
		`{"type":"OrderShipped","carrier":"DHL"}`,
	}
	var order orders.Order
	for _, data := range events {
		e, err := orders.Events.Decode([]byte(data))
		if err != nil {
			fmt.Println("undecodable:", err)
			continue
		}
		next, err := orders.Evolve(order, e)
		if err != nil {
			fmt.Println("dead letter:", err)
			continue
		}
		order = next
	}
	state, _ := codec.JSON[orders.Order]{}.Encode(order)
	fmt.Println(string(state))
	// Output:
	// dead letter: orders: invalid transition: OrderShipped: order is cancelled, only an approved order can ship
	// {"status":"cancelled","customer_id":"user-000007","items":[{"sku":"BOOK-0042","quantity":6,"price_cents":1999}],"total_cents":11994,"cancel_reason":"customer request"}
}

// The happy path: an approved order ships.
func ExampleEvolve() {
	var order orders.Order
	for _, e := range []orders.Event{
		&orders.OrderCreated{CustomerID: "user-000001"},
		&orders.ItemAdded{SKU: "MUG-BLUE", Quantity: 2, PriceCents: 899},
		&orders.ItemAdded{SKU: "BOOK-0042", Quantity: 1, PriceCents: 1999},
		&orders.OrderApproved{ApprovedBy: "clerk-ana"},
		&orders.OrderShipped{Carrier: "UPS", TrackingNumber: "UP0000000001"},
	} {
		var err error
		if order, err = orders.Evolve(order, e); err != nil {
			fmt.Println(err)
			return
		}
	}
	fmt.Println(order.Status, order.TotalCents, len(order.Items), order.Items[0].SKU)
	// Output:
	// shipped 3797 2 BOOK-0042
}

// Decide the seed articles' update: the quantity of BOOK-0042 goes from 5 to
// 6. Decide validates the command against the current order and returns the
// event to append; the same command after shipping is rejected.
func ExampleDecide() {
	order, _ := orders.Evolve(orders.Order{}, &orders.OrderCreated{CustomerID: "user-000007"})
	order, _ = orders.Evolve(order, &orders.ItemAdded{SKU: "BOOK-0042", Quantity: 5, PriceCents: 1999})

	cmd, _ := orders.Commands.Decode([]byte(`{"type":"ChangeQuantity","sku":"BOOK-0042","quantity":6}`))
	events, err := orders.Decide(order, cmd)
	if err != nil {
		fmt.Println("rejected:", err)
		return
	}
	for _, e := range events {
		data, _ := orders.Events.Encode(e)
		fmt.Println(string(data))
		order, _ = orders.Evolve(order, e)
	}
	fmt.Println(order.Items[0].Quantity, order.TotalCents)

	// Once the order has shipped, the same change is refused.
	order, _ = orders.Evolve(order, &orders.OrderApproved{})
	order, _ = orders.Evolve(order, &orders.OrderShipped{Carrier: "DHL"})
	_, err = orders.Decide(order, &orders.ChangeQuantity{SKU: "BOOK-0042", Quantity: 7})
	fmt.Println(errors.Is(err, orders.ErrRejected), err)
	// Output:
	// {"type":"QuantityChanged","sku":"BOOK-0042","quantity":6}
	// 6 11994
	// true cannot change quantity: order is shipped, items can change only while it is created
}
