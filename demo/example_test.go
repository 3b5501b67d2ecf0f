package demo_test

import (
	"fmt"

	"github.com/eventfold/eventfold/demo"
)

// The first events of a small generated stream: the same seed always gives
// the same stream.
func ExampleGenerate() {
	for _, e := range demo.Generate(1, 4, 12) {
		fmt.Printf("%s %s %s\n", e.Entity, e.ID, e.Data)
	}
	// Output:
	// orders order-000002 {"type":"OrderCreated","customer_id":"user-000001","created_at":"2024-01-01T00:00:00Z"}
	// orders order-000002 {"type":"ItemAdded","sku":"BOOK-1984","quantity":4,"price_cents":1450}
	// users user-000002 {"type":"UserCreated","name":"Donald Dijkstra","email":"donald.dijkstra.2@example.com"}
	// orders order-000001 {"type":"OrderCreated","customer_id":"user-000001","created_at":"2024-01-01T00:00:39Z"}
	// users user-000002 {"type":"RoleAssigned","role":"support"}
	// orders order-000002 {"type":"OrderApproved","approved_by":"clerk-dara"}
	// orders order-000002 {"type":"OrderShipped","carrier":"PostNL","tracking_number":"PO5590341911"}
	// users user-000001 {"type":"UserCreated","name":"Dennis Thompson","email":"dennis.thompson.1@example.com"}
	// orders order-000001 {"type":"ItemAdded","sku":"SOCKS-WOOL","quantity":4,"price_cents":1500}
	// orders order-000001 {"type":"ItemAdded","sku":"CHAIR-OAK","quantity":3,"price_cents":18900}
	// users user-000001 {"type":"PurchaseRecorded","order_id":"order-000002","total_cents":5800}
	// users user-000002 {"type":"UserLoggedIn","at":"2024-01-01T00:02:23Z"}
}
