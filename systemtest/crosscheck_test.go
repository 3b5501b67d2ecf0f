package systemtest

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/eventfold/eventfold/demo"
	"github.com/eventfold/eventfold/demo/orders"
	"github.com/eventfold/eventfold/demo/users"
	"github.com/eventfold/eventfold/kafka"
	"github.com/eventfold/eventfold/systemtest/checker"
)

// The checker's rules were written again from the event shapes, not
// copied: on the demo generator's events (with its ~1.6% invalid
// transitions) its fold must equal a fold with the demo's own codecs and
// Evolve, entity by entity, or a difference the system tests report could
// be the checker's. Needs no Kafka, so it runs in `make test` too.
func TestCheckerAgreesWithDemoEvolve(t *testing.T) {
	const entities, events, parts = 5_000, 50_000, 12
	evs := demo.Generate(42, entities, events)
	recs := map[string][]checker.Record{}
	next := map[string]int64{}
	type ref struct {
		state   any
		version uint64
	}
	want := map[string]map[string]*ref{"orders": {}, "users": {}}
	for _, e := range evs {
		p := kafka.FNV1a.Partition(e.ID, parts)
		topic := e.Entity + "-events"
		k := fmt.Sprintf("%s/%d", topic, p)
		recs[e.Entity] = append(recs[e.Entity], checker.Record{Topic: topic, Partition: p, Offset: next[k], Key: e.ID, Value: e.Data})
		next[k]++
		r := want[e.Entity][e.ID]
		if r == nil {
			r = &ref{}
			if e.Entity == "orders" {
				r.state = orders.Order{}
			} else {
				r.state = users.User{}
			}
			want[e.Entity][e.ID] = r
		}
		switch e.Entity {
		case "orders":
			ev, err := orders.Events.Decode(e.Data)
			if err != nil {
				continue
			}
			if s, err := orders.Evolve(r.state.(orders.Order), ev); err == nil {
				r.state, r.version = s, r.version+1
			}
		case "users":
			ev, err := users.Events.Decode(e.Data)
			if err != nil {
				continue
			}
			if s, err := users.Evolve(r.state.(users.User), ev); err == nil {
				r.state, r.version = s, r.version+1
			}
		}
	}
	f, err := checker.FoldTopics(recs)
	if err != nil {
		t.Fatal(err)
	}
	c := f.Counts()
	if c.Events != events || c.Applied == events || c.Applied < events*9/10 {
		t.Fatalf("fold counts %+v: want %d events, some (not many) not applied", c, events)
	}
	diffs := 0
	for typ, ids := range want {
		for id, r := range ids {
			got := f.Entities[typ][id]
			b, _ := json.Marshal(r.state)
			if got == nil || got.Version != r.version || (r.version > 0 && !jsonEqual(got.State, b)) {
				if diffs++; diffs <= 5 {
					t.Errorf("%s/%s: checker %+v, demo version %d state %s", typ, id, got, r.version, b)
				}
			}
		}
	}
	if diffs > 0 {
		t.Errorf("%d entities differ", diffs)
	}
	t.Logf("%d events of %d entities: %d applied by both folds", c.Events, entities, c.Applied)
}
