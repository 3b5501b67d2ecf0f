package purchases

import (
	"github.com/eventfold/eventfold/demo/orders"
	"github.com/eventfold/eventfold/demo/users"
	"github.com/eventfold/eventfold/subscriber"
)

// Name is the subscriber's name: its group is <app>-sub-purchases.
const Name = "purchases"

// Subscriber is the process manager: it follows orders and, for each
// OrderShipped the fold applied, sends RecordPurchase to the customer.
func Subscriber() subscriber.Subscriber {
	return subscriber.Subscriber{
		Name:     Name,
		Entities: []string{orders.Entity.Name},
		Handler:  subscriber.ProcessManager{Decide: Decide},
	}
}

// Decide is the process manager's decision for one delivery: the order's
// state after the event says who the customer is and what the order came
// to. Only deliveries decide, never the current state, so a redelivery
// sends the same command (with the same Idempotency-Key).
func Decide(d subscriber.Delivery) ([]subscriber.Command, error) {
	if !d.Applied || d.Type != "OrderShipped" {
		return nil, nil
	}
	o, _, err := subscriber.Decode(orders.Entity, d)
	if err != nil {
		return nil, err
	}
	body, err := users.Commands.Encode(&users.RecordPurchase{OrderID: d.ID, TotalCents: o.TotalCents})
	if err != nil {
		return nil, err
	}
	return []subscriber.Command{{Entity: users.Entity.Name, ID: o.CustomerID, Body: body}}, nil
}
