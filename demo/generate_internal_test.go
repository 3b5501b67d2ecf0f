package demo

import (
	"bytes"
	"testing"

	"github.com/eventfold/eventfold/demo/orders"
	"github.com/eventfold/eventfold/demo/users"
)

// The events Evolve rejects are exactly the ones planned as invalid: every
// other event of a lifecycle is valid.
func TestInvalidAreExactlyPlanned(t *testing.T) {
	for _, seed := range []int64{1, 2, 3} {
		for _, sz := range []struct{ entities, events int }{{10, 3000}, {1000, 5000}, {5000, 6000}} {
			evs, invalid := generate(seed, sz.entities, sz.events)
			ords := map[string]orders.Order{}
			usrs := map[string]users.User{}
			planned := 0
			for i, e := range evs {
				var err error
				switch e.Entity {
				case "orders":
					ev, derr := orders.Events.Decode(e.Data)
					if derr != nil {
						t.Fatal(derr)
					}
					var next orders.Order
					if next, err = orders.Evolve(ords[e.ID], ev); err == nil {
						ords[e.ID] = next
					}
				case "users":
					ev, derr := users.Events.Decode(e.Data)
					if derr != nil {
						t.Fatal(derr)
					}
					var next users.User
					if next, err = users.Evolve(usrs[e.ID], ev); err == nil {
						usrs[e.ID] = next
					}
				}
				if (err != nil) != invalid[i] {
					t.Fatalf("seed %d %v: event %d %s of %s: planned invalid %v, Evolve error %v", seed, sz, i, e.Data, e.ID, invalid[i], err)
				}
				if invalid[i] {
					planned++
				}
			}
			if frac := float64(planned) / float64(len(evs)); frac < 0.005 || frac > 0.03 {
				t.Errorf("seed %d %v: %.2f%% invalid, want about %.2f%%", seed, sz, 100*frac, 100.0/invalidOneIn)
			}
		}
	}
}

// The output interleaves the entity plans without reordering any of them.
func TestInterleavingKeepsEntityOrder(t *testing.T) {
	plans, _ := planAll(11, 40, 4000)
	evs := Generate(11, 40, 4000)
	byID := map[string]*plan{}
	for i := range plans {
		byID[plans[i].id] = &plans[i]
	}
	next := map[string]int{}
	for j, e := range evs {
		p := byID[e.ID]
		k := next[e.ID]
		next[e.ID]++
		if p == nil || k >= len(p.data) || !bytes.Equal(p.data[k], e.Data) || p.entity != e.Entity {
			t.Fatalf("event %d (%s #%d) is not the entity's next planned event", j, e.ID, k)
		}
	}
	for id, p := range byID {
		if next[id] != len(p.data) {
			t.Errorf("%s: %d of %d planned events emitted", id, next[id], len(p.data))
		}
	}
}
