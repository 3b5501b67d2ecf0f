package demo_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/eventfold/eventfold/demo"
	"github.com/eventfold/eventfold/demo/orders"
	"github.com/eventfold/eventfold/demo/users"
	"github.com/eventfold/eventfold/entity"
)

func TestGenerateDeterministic(t *testing.T) {
	a := demo.Generate(42, 100, 5000)
	b := demo.Generate(42, 100, 5000)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed, different events")
	}
	if c := demo.Generate(43, 100, 5000); reflect.DeepEqual(a, c) {
		t.Fatal("different seeds, same events")
	}
}

func TestGenerateCounts(t *testing.T) {
	for _, tc := range []struct{ entities, events, orders, users int }{
		{1, 1, 1, 0},
		{1, 50, 1, 0},
		{2, 2, 1, 1},
		{3, 7, 2, 1},
		{10, 5, 5, 5}, // fewer events than entities: some get none
		{101, 1000, 51, 50},
		{500, 20000, 250, 250},
	} {
		t.Run(fmt.Sprintf("%d/%d", tc.entities, tc.events), func(t *testing.T) {
			evs := demo.Generate(1, tc.entities, tc.events)
			if len(evs) != tc.events {
				t.Fatalf("got %d events, want %d", len(evs), tc.events)
			}
			valid := map[string]bool{}
			for i := 1; i <= tc.orders; i++ {
				valid[fmt.Sprintf("order-%06d", i)] = true
			}
			for i := 1; i <= tc.users; i++ {
				valid[fmt.Sprintf("user-%06d", i)] = true
			}
			seen := map[string]bool{}
			for _, e := range evs {
				if !valid[e.ID] {
					t.Fatalf("unexpected id %q", e.ID)
				}
				seen[e.ID] = true
				switch {
				case e.Entity == "orders" && strings.HasPrefix(e.ID, "order-"):
					if _, err := orders.Events.Decode(e.Data); err != nil {
						t.Fatalf("%s: %v", e.Data, err)
					}
				case e.Entity == "users" && strings.HasPrefix(e.ID, "user-"):
					if _, err := users.Events.Decode(e.Data); err != nil {
						t.Fatalf("%s: %v", e.Data, err)
					}
				default:
					t.Fatalf("event %+v: entity does not match id", e)
				}
			}
			if tc.events >= tc.entities && len(seen) != tc.entities {
				t.Errorf("%d of %d entities have events", len(seen), tc.entities)
			}
		})
	}
	for _, tc := range []struct{ entities, events int }{{0, 10}, {10, 0}, {-1, 5}, {5, -1}} {
		if evs := demo.Generate(1, tc.entities, tc.events); evs != nil {
			t.Errorf("Generate(1, %d, %d) = %d events, want nil", tc.entities, tc.events, len(evs))
		}
	}
}

// eventTime is the time an event carries, if any.
func eventTime(t *testing.T, e demo.Event) (time.Time, bool) {
	t.Helper()
	var at string
	switch e.Entity {
	case "orders":
		ev, err := orders.Events.Decode(e.Data)
		if err != nil {
			t.Fatal(err)
		}
		if c, ok := ev.(*orders.OrderCreated); ok {
			at = c.CreatedAt
		}
	case "users":
		ev, err := users.Events.Decode(e.Data)
		if err != nil {
			t.Fatal(err)
		}
		if l, ok := ev.(*users.UserLoggedIn); ok {
			at = l.At
		}
	}
	if at == "" {
		return time.Time{}, false
	}
	ts, err := time.Parse(time.RFC3339, at)
	if err != nil {
		t.Fatalf("%s: %v", e.Data, err)
	}
	return ts, true
}

// Events carry times that increase in output order, so a consumer that reads
// them in order sees each entity's history in order; entities interleave.
func TestGenerateOrder(t *testing.T) {
	evs := demo.Generate(5, 50, 5000)
	var last time.Time
	switches := 0
	for i, e := range evs {
		if ts, ok := eventTime(t, e); ok {
			if !ts.After(last) {
				t.Fatalf("event %d at %v, not after %v", i, ts, last)
			}
			last = ts
		}
		if i > 0 && evs[i-1].ID != e.ID {
			switches++
		}
	}
	if switches < len(evs)*9/10 {
		t.Errorf("only %d of %d neighbours belong to different entities: not interleaved", switches, len(evs))
	}
}

type foldStats struct {
	events, errs int
	types        map[string]int // event type -> count
	statuses     map[string]int // final order statuses, "deleted"/"active" users
}

// foldAll folds every entity's events with its Evolve, in output order.
func foldAll(t *testing.T, evs []demo.Event) foldStats {
	t.Helper()
	st := foldStats{types: map[string]int{}, statuses: map[string]int{}}
	ords := map[string]orders.Order{}
	usrs := map[string]users.User{}
	for _, e := range evs {
		st.events++
		var err error
		switch e.Entity {
		case "orders":
			ev, derr := orders.Events.Decode(e.Data)
			if derr != nil {
				t.Fatal(derr)
			}
			st.types[orders.Events.TypeOf(ev)]++
			var next orders.Order
			if next, err = orders.Evolve(ords[e.ID], ev); err == nil {
				ords[e.ID] = next
			} else if !errors.Is(err, orders.ErrInvalidTransition) {
				t.Fatalf("%s: %v", e.Data, err)
			}
		case "users":
			ev, derr := users.Events.Decode(e.Data)
			if derr != nil {
				t.Fatal(derr)
			}
			st.types[users.Events.TypeOf(ev)]++
			var next users.User
			if next, err = users.Evolve(usrs[e.ID], ev); err == nil {
				usrs[e.ID] = next
			} else if !errors.Is(err, users.ErrInvalidTransition) {
				t.Fatalf("%s: %v", e.Data, err)
			}
		}
		if err != nil {
			st.errs++
		}
	}
	for _, o := range ords {
		st.statuses[string(o.Status)]++
	}
	for _, u := range usrs {
		if u.Deleted {
			st.statuses["deleted"]++
		} else {
			st.statuses["active"]++
		}
	}
	return st
}

func TestGenerateFolds(t *testing.T) {
	for _, tc := range []struct{ entities, events int }{
		{200, 20000},   // long histories
		{4000, 20000},  // short ones
		{20000, 40000}, // mostly one or two events
	} {
		t.Run(fmt.Sprintf("%d/%d", tc.entities, tc.events), func(t *testing.T) {
			st := foldAll(t, demo.Generate(9, tc.entities, tc.events))
			frac := float64(st.errs) / float64(st.events)
			t.Logf("%d of %d events invalid (%.2f%%); final states %v; types %v", st.errs, st.events, 100*frac, st.statuses, st.types)
			if st.errs == 0 || frac >= 0.05 {
				t.Errorf("%d of %d events invalid (%.2f%%), want > 0 and < 5%%", st.errs, st.events, 100*frac)
			}
			for _, typ := range append(orders.Events.Types(), users.Events.Types()...) {
				if st.types[typ] == 0 {
					t.Errorf("no %s event", typ)
				}
			}
			for _, s := range []string{"created", "approved", "shipped", "cancelled", "active", "deleted"} {
				if st.statuses[s] == 0 {
					t.Errorf("no entity ends %s", s)
				}
			}
		})
	}
}

func TestEntities(t *testing.T) {
	defs := demo.Entities()
	var names []string
	types := map[string]*entity.Type{}
	for _, d := range defs {
		typ, err := d.Type()
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, typ.Name())
		types[typ.Name()] = typ
	}
	if !reflect.DeepEqual(names, []string{"orders", "users"}) {
		t.Fatalf("entity names %v", names)
	}
	// Every generated event is accepted by its entity type's codec.
	for _, e := range demo.Generate(3, 20, 500) {
		typ := types[e.Entity]
		if typ == nil {
			t.Fatalf("event of unknown entity %q", e.Entity)
		}
		if _, err := typ.CheckEvent(e.Data); err != nil {
			t.Fatalf("%s: %v", e.Data, err)
		}
	}
}

func BenchmarkGenerate(b *testing.B) {
	for b.Loop() {
		demo.Generate(1, 1000, 100000)
	}
}
