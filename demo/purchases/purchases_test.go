package purchases_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/eventfold/eventfold/demo/orders"
	"github.com/eventfold/eventfold/demo/purchases"
	"github.com/eventfold/eventfold/subscriber"
)

func delivery(t testing.TB, typ, event string, applied bool, state orders.Order) subscriber.Delivery {
	t.Helper()
	st, err := json.Marshal(state)
	if err != nil {
		t.Fatal(err)
	}
	return subscriber.Delivery{Entity: "orders", ID: "order-7", EventID: "orders-events/3/41", Type: typ,
		Event: json.RawMessage(event), Applied: applied, State: st}
}

func TestDecide(t *testing.T) {
	shipped := orders.Order{Status: orders.StatusShipped, CustomerID: "user-1", TotalCents: 7500}
	for _, tc := range []struct {
		name string
		d    subscriber.Delivery
		want string
	}{
		{"shipped", delivery(t, "OrderShipped", `{"type":"OrderShipped"}`, true, shipped),
			`[users/user-1 {"type":"RecordPurchase","order_id":"order-7","total_cents":7500}]`},
		{"not applied", delivery(t, "OrderShipped", `{"type":"OrderShipped"}`, false, shipped), `[]`},
		{"another event", delivery(t, "OrderApproved", `{"type":"OrderApproved"}`, true, shipped), `[]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmds, err := purchases.Decide(tc.d)
			if err != nil {
				t.Fatal(err)
			}
			got := "["
			for i, c := range cmds {
				if i > 0 {
					got += " "
				}
				got += c.Entity + "/" + c.ID + " " + string(c.Body)
			}
			if got += "]"; got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func ExampleDecide() {
	d := subscriber.Delivery{Entity: "orders", ID: "order-42", EventID: "orders-events/2/17", Type: "OrderShipped",
		Event: json.RawMessage(`{"type":"OrderShipped","carrier":"dhl"}`), Applied: true,
		State: json.RawMessage(`{"status":"shipped","customer_id":"user-000001","total_cents":7500}`)}
	cmds, _ := purchases.Decide(d)
	for _, c := range cmds {
		fmt.Println(c.Entity, c.ID, string(c.Body))
	}
	// Output: users user-000001 {"type":"RecordPurchase","order_id":"order-42","total_cents":7500}
}
