package processor_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/eventfold/eventfold/demo"
	"github.com/eventfold/eventfold/demo/orders"
	"github.com/eventfold/eventfold/demo/users"
	"github.com/eventfold/eventfold/eventfoldtest"
	"github.com/eventfold/eventfold/kafka"
	"github.com/eventfold/eventfold/processor"
)

type expected struct {
	state   []byte
	version uint64
}

// foldDemo folds events independently of the processor: the same Evolve
// functions, applied in production order, invalid transitions skipped.
func foldDemo(t *testing.T, events []demo.Event) map[string]map[string]expected {
	t.Helper()
	ord := map[string]orders.Order{}
	usr := map[string]users.User{}
	ver := map[string]map[string]uint64{"orders": {}, "users": {}}
	for _, e := range events {
		switch e.Entity {
		case "orders":
			ev, err := orders.Events.Decode(e.Data)
			if err != nil {
				t.Fatal(err)
			}
			if s, err := orders.Evolve(ord[e.ID], ev); err == nil {
				ord[e.ID] = s
				ver["orders"][e.ID]++
			}
		case "users":
			ev, err := users.Events.Decode(e.Data)
			if err != nil {
				t.Fatal(err)
			}
			if s, err := users.Evolve(usr[e.ID], ev); err == nil {
				usr[e.ID] = s
				ver["users"][e.ID]++
			}
		}
	}
	out := map[string]map[string]expected{"orders": {}, "users": {}}
	for id, s := range ord {
		b, _ := json.Marshal(s)
		out["orders"][id] = expected{b, ver["orders"][id]}
	}
	for id, s := range usr {
		b, _ := json.Marshal(s)
		out["users"][id] = expected{b, ver["users"][id]}
	}
	return out
}

// The acceptance test of the core: 100k events over 10k entities of both
// demo types on 10 partitions and two brokers; every entity's state equals
// an independent fold of the same events.
func TestDemoDomainsFoldExactly(t *testing.T) {
	if testing.Short() {
		t.Skip("100k events")
	}
	k := eventfoldtest.NewKafka(t, 2)
	p, err := processor.New(k.Brokers, demo.Entities(),
		processor.WithDataDir(t.TempDir()),
		processor.WithPartitions(10),
		processor.WithSaramaConfig(eventfoldtest.SaramaConfig()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	events := demo.Generate(42, 10_000, 100_000)
	want := foldDemo(t, events)
	recs := make([]kafka.Record, len(events))
	for i, e := range events {
		recs[i] = kafka.Record{Topic: e.Entity + "-events", Key: e.ID, Value: e.Data}
	}
	start := time.Now()
	produce(t, k.Brokers, recs)
	t.Logf("produced %d events in %v", len(recs), time.Since(start))

	eventfoldtest.Eventually(t, 3*time.Minute, func() error {
		for entityName, ids := range want {
			for id, w := range ids {
				e, err := p.Get(ctx, entityName, id)
				if err != nil {
					return fmt.Errorf("%s/%s: %w", entityName, id, err)
				}
				if e.Version != w.version {
					return fmt.Errorf("%s/%s at version %d, want %d", entityName, id, e.Version, w.version)
				}
			}
		}
		return nil
	})
	t.Logf("folded in %v", time.Since(start))
	checked := 0
	for entityName, ids := range want {
		for id, w := range ids {
			e, err := p.Get(ctx, entityName, id)
			if err != nil {
				t.Fatal(err)
			}
			if string(e.State) != string(w.state) {
				t.Fatalf("%s/%s:\n got %s\nwant %s", entityName, id, e.State, w.state)
			}
			checked++
		}
	}
	if checked != 10_000 {
		t.Errorf("checked %d entities, want 10000", checked)
	}
}
