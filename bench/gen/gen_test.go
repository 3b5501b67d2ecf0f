package gen

import (
	"bytes"
	"testing"

	"github.com/eventfold/eventfold/demo/orders"
)

func TestOrders(t *testing.T) {
	ds := Orders(7, 1000, 20000)
	if len(ds.Records) != 20000 {
		t.Fatalf("%d records, want 20000", len(ds.Records))
	}
	// An independent fold agrees with what the generator reports.
	state := map[string]orders.Order{}
	applied := 0
	for _, r := range ds.Records {
		if n := len(r.Value); n < 100 || n > 300 {
			t.Fatalf("event of %d bytes: %s", n, r.Value)
		}
		ev, err := orders.Events.Decode(r.Value)
		if err != nil {
			t.Fatalf("decode %s: %v", r.Value, err)
		}
		if next, err := orders.Evolve(state[r.Key], ev); err == nil {
			state[r.Key] = next
			applied++
		}
	}
	if applied != ds.Applied {
		t.Fatalf("applied %d, generator says %d", applied, ds.Applied)
	}
	if len(state) != ds.Exists {
		t.Fatalf("%d orders exist, generator says %d", len(state), ds.Exists)
	}
	if inv := 20000 - applied; inv < 100 || inv > 800 {
		t.Fatalf("%d invalid events, want about 1.6%%", inv)
	}
	again := Orders(7, 1000, 20000)
	for i := range ds.Records {
		if ds.Records[i].Key != again.Records[i].Key || !bytes.Equal(ds.Records[i].Value, again.Records[i].Value) {
			t.Fatalf("record %d differs between two runs with the same seed", i)
		}
	}
}
