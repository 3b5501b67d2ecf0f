package main

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/eventfold/eventfold/bench/gen"
	"github.com/eventfold/eventfold/demo/orders"
)

// The goka contender's fold, through its table codec, ends in the same
// states as orders.Evolve.
func TestFoldMatchesEvolve(t *testing.T) {
	ds := gen.Orders(3, 200, 3000)
	table := map[string][]byte{} // what goka's storage would hold
	want := map[string]orders.Order{}
	for _, r := range ds.Records {
		var stored any
		if b, ok := table[r.Key]; ok {
			v, err := orderCodec{}.Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			stored = v
		}
		if next, ok := apply(stored, r.Value); ok {
			b, err := orderCodec{}.Encode(next)
			if err != nil {
				t.Fatal(err)
			}
			table[r.Key] = b
		}
		ev, err := orders.Events.Decode(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		if next, err := orders.Evolve(want[r.Key], ev); err == nil {
			want[r.Key] = next
		}
	}
	if len(table) != len(want) || len(want) != ds.Exists {
		t.Fatalf("%d keys in the table, %d by Evolve, generator says %d", len(table), len(want), ds.Exists)
	}
	for k, o := range want {
		b, _ := json.Marshal(o)
		if !bytes.Equal(table[k], b) {
			t.Fatalf("%s: table %s, Evolve %s", k, table[k], b)
		}
	}
	if _, ok := apply(nil, []byte(`{"type":"Nope"}`)); ok {
		t.Fatal("an unknown event type applied")
	}
}
