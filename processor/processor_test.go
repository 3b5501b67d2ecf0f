package processor_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"reflect"
	"testing"

	"github.com/eventfold/eventfold"
	"github.com/eventfold/eventfold/eventfoldtest"
	"github.com/eventfold/eventfold/kafka"
	"github.com/eventfold/eventfold/processor"
)

// genCounters makes n events over keys, and the state an independent fold
// of them reaches per key (negative additions are rejected, as Evolve does).
func genCounters(t *testing.T, seed int64, keys, n int) ([]kafka.Record, map[string]counter, map[string]uint64) {
	rng := rand.New(rand.NewSource(seed))
	recs := make([]kafka.Record, n)
	want := map[string]counter{}
	versions := map[string]uint64{}
	for i := range recs {
		key := fmt.Sprintf("c-%d", rng.Intn(keys))
		v := rng.Intn(100)
		if rng.Intn(50) == 0 {
			v = -v - 1
		}
		recs[i] = kafka.Record{Topic: "counters-events", Key: key, Value: encodeAdded(t, v)}
		s, err := evolveCounter(want[key], &added{N: v})
		if err == nil {
			want[key] = s
			versions[key]++
		}
	}
	return recs, want, versions
}

func checkStates(t *testing.T, p *processor.Processor, want map[string]counter, versions map[string]uint64) {
	t.Helper()
	ctx := context.Background()
	for key, w := range want {
		e, err := p.Get(ctx, "counters", key)
		if err != nil {
			t.Fatalf("Get(%s): %v", key, err)
		}
		var got counter
		if err := json.Unmarshal(e.State, &got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, w) || e.Version != versions[key] {
			t.Fatalf("%s: got %+v v%d, want %+v v%d", key, got, e.Version, w, versions[key])
		}
	}
}

func TestFoldEqualsIndependentFold(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 2)
	r := startProcessor(t, k.Brokers, t.TempDir())
	recs, want, versions := genCounters(t, 1, 50, 3000)
	produce(t, k.Brokers, recs)
	waitVersions(t, r.Processor, "counters", versions)
	checkStates(t, r.Processor, want, versions)

	// An id with no events is not found; an unknown entity type neither.
	if _, err := r.Get(context.Background(), "counters", "nobody"); !errors.Is(err, eventfold.ErrNotFound) {
		t.Errorf("Get(nobody) = %v, want ErrNotFound", err)
	}
	if _, err := r.Get(context.Background(), "nothing", "x"); !errors.Is(err, eventfold.ErrNotFound) {
		t.Errorf("Get(unknown entity) = %v, want ErrNotFound", err)
	}
}

func TestRestartRecoversSameState(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 2)
	dir := t.TempDir()
	r := startProcessor(t, k.Brokers, dir)
	recs, want, versions := genCounters(t, 2, 40, 2000)
	produce(t, k.Brokers, recs)
	waitVersions(t, r.Processor, "counters", versions)
	r.stop(t)

	t.Run("same data dir", func(t *testing.T) {
		r := startProcessor(t, k.Brokers, dir)
		checkStates(t, r.Processor, want, versions)
		r.stop(t)
	})
	t.Run("fresh data dir, changelog only", func(t *testing.T) {
		r := startProcessor(t, k.Brokers, t.TempDir())
		checkStates(t, r.Processor, want, versions)
		r.stop(t)
	})
}
