package subscriber_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/eventfold/eventfold/eventfoldtest"
	"github.com/eventfold/eventfold/kafka"
	"github.com/eventfold/eventfold/subscriber"
)

// want is what an independent fold (this test's, not eventfold's) says of
// one event.
type want struct {
	applied bool
	version uint64
	state   counter
}

// scenario produces events for keys: plain additions (negative ones are
// rejected), commands of three events (applied together) and commands cut
// short by a plain event (not applied), and returns per key what each of
// its events should be delivered with, in order.
func scenario(keys, perKey int, seed uint64) ([]kafka.Record, map[string][]want) {
	rng := rand.New(rand.NewPCG(seed, 1))
	var recs []kafka.Record
	wants := map[string][]want{}
	type st struct {
		c counter
		v uint64
	}
	states := map[string]*st{}
	for round := 0; round < perKey; round++ {
		for k := 0; k < keys; k++ {
			key := fmt.Sprintf("k%04d", k)
			s := states[key]
			if s == nil {
				s = &st{}
				states[key] = s
			}
			switch r := rng.IntN(20); {
			case r == 0: // a command of three events
				ns := []int{1 + rng.IntN(5), 1 + rng.IntN(5), 1 + rng.IntN(5)}
				recs = append(recs, commandEvents(key, fmt.Sprintf("c-%s-%d", key, round), s.v, ns...)...)
				for i, n := range ns {
					s.c.Sum += n
					s.c.Count++
					wants[key] = append(wants[key], want{true, s.v + uint64(i) + 1, s.c})
				}
				s.v += uint64(len(ns))
			case r == 1: // a command of two events cut short by a plain event
				recs = append(recs, commandEvents(key, fmt.Sprintf("a-%s-%d", key, round), s.v, 7, 7)[0])
				wants[key] = append(wants[key], want{false, s.v, s.c})
				recs = append(recs, plain(key, 2))
				s.c.Sum += 2
				s.c.Count++
				s.v++
				wants[key] = append(wants[key], want{true, s.v, s.c})
			default:
				n := rng.IntN(14) - 3
				recs = append(recs, plain(key, n))
				if n < 0 {
					wants[key] = append(wants[key], want{false, s.v, s.c})
					continue
				}
				s.c.Sum += n
				s.c.Count++
				s.v++
				wants[key] = append(wants[key], want{true, s.v, s.c})
			}
		}
	}
	return recs, wants
}

// checkDeliveries compares the first delivery of each event, per key in
// order, with the independent fold.
func checkDeliveries(t *testing.T, got []subscriber.Delivery, wants map[string][]want) {
	t.Helper()
	seen := map[string]bool{}
	perKey := map[string][]subscriber.Delivery{}
	for _, d := range got {
		if seen[d.EventID] {
			continue
		}
		seen[d.EventID] = true
		perKey[d.ID] = append(perKey[d.ID], d)
	}
	bad := 0
	for key, ws := range wants {
		ds := perKey[key]
		if len(ds) != len(ws) {
			t.Errorf("%s: %d events delivered, want %d", key, len(ds), len(ws))
			bad++
			continue
		}
		for i, w := range ws {
			d := ds[i]
			if i > 0 && d.Offset <= ds[i-1].Offset {
				t.Errorf("%s: delivery %d at offset %d after offset %d: out of order", key, i, d.Offset, ds[i-1].Offset)
				bad++
			}
			if g := decodeState(t, d); d.Applied != w.applied || d.Version != w.version || g != w.state {
				t.Errorf("%s event %d (%s): applied %v version %d state %+v, want %v %d %+v",
					key, i, d.EventID, d.Applied, d.Version, g, w.applied, w.version, w.state)
				bad++
			}
			if bad > 20 {
				t.Fatal("too many mismatches")
			}
		}
	}
}

func TestDeliveriesAreInOrderPerKeyWithTheExactState(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	ensureTopics(t, k.Brokers)
	recs, wants := scenario(200, 25, 1)
	produce(t, k.Brokers, recs)

	var rec recorder
	var mu sync.Mutex
	busy, maxBusy := map[string]bool{}, 0
	h := subscriber.HandlerFunc(func(ctx context.Context, d subscriber.Delivery) error {
		mu.Lock()
		if busy[d.ID] {
			mu.Unlock()
			return fmt.Errorf("key %s handled twice at once", d.ID)
		}
		busy[d.ID] = true
		maxBusy = max(maxBusy, len(busy))
		mu.Unlock()
		time.Sleep(time.Duration(rand.IntN(300)) * time.Microsecond)
		rec.add(d)
		mu.Lock()
		delete(busy, d.ID)
		mu.Unlock()
		return nil
	})
	start(t, k.Brokers, "order", []subscriber.Subscriber{{Name: "audit", Entities: []string{"counters"}, Handler: h, Concurrency: 16}})
	eventfoldtest.Eventually(t, 90*time.Second, func() error {
		if n := len(rec.byEvent()); n < len(recs) {
			return fmt.Errorf("%d of %d events delivered", n, len(recs))
		}
		return nil
	})
	checkDeliveries(t, rec.snapshot(), wants)
	for id, n := range rec.byEvent() {
		if n != 1 {
			t.Errorf("%s delivered %d times without a failure or a restart", id, n)
		}
	}
	if maxBusy < 2 {
		t.Errorf("at most %d keys were handled at once with concurrency 16", maxBusy)
	}
	t.Logf("%d events, up to %d keys at once", len(recs), maxBusy)
}
