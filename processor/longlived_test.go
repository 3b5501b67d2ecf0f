package processor_test

import (
	"context"
	"fmt"
	"math/rand"
	"reflect"
	"testing"
	"time"

	"github.com/eventfold/eventfold/eventfoldtest"
	"github.com/eventfold/eventfold/kafka"
	"github.com/eventfold/eventfold/limits"
	"github.com/eventfold/eventfold/processor"
)

// One entity with 100k events among 2,000 small ones: the fold keeps its
// pace as the entity grows (its envelope stays bounded), and history and
// point-in-time reads still answer, exactly.
func TestLongLivedEntity(t *testing.T) {
	if testing.Short() {
		t.Skip("100k events")
	}
	k := eventfoldtest.NewKafka(t, 1)
	reg := newRegistry()
	r := startCommanded(t, k, processor.WithRegisterer(reg))
	const longN, small = 100_000, 2_000
	rng := rand.New(rand.NewSource(3))
	var recs []kafka.Record
	var longVals []int
	start := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < longN+small*5; i++ {
		key := "long"
		if i%21 == 20 || len(longVals) == longN {
			key = fmt.Sprint("small-", rng.Intn(small))
		}
		v := rng.Intn(100)
		rec := plainEvent(t, key, v)
		rec.Timestamp = start.Add(time.Duration(i) * time.Millisecond)
		recs = append(recs, rec)
		if key == "long" {
			longVals = append(longVals, v)
		}
	}
	// Produce in quarters and time the fold of each: a growing entity must
	// not slow its partition down.
	var rates []float64
	q := len(recs) / 4
	for i := 0; i < 4; i++ {
		part := recs[i*q : min((i+1)*q, len(recs))]
		if i == 3 {
			part = recs[i*q:]
		}
		began := time.Now()
		pos := produce(t, k.Brokers, part)
		lastLong := int64(-1)
		for j, rec := range part {
			if rec.Key == "long" {
				lastLong = pos[j].Offset
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		if err := r.WaitApplied(ctx, "counters", "long", lastLong); err != nil {
			t.Fatal(err)
		}
		cancel()
		rates = append(rates, float64(len(part))/time.Since(began).Seconds())
	}
	t.Logf("produce+fold rate per quarter (events/s): %.0f %.0f %.0f %.0f", rates[0], rates[1], rates[2], rates[3])

	ctx := eventfoldtest.Context(t, 2*time.Minute)
	e, err := r.Get(ctx, "counters", "long")
	if err != nil || e.Version != longN {
		t.Fatalf("long: %+v %v", e, err)
	}
	ref := make([]refEvent, len(longVals))
	for i, v := range longVals {
		ref[i] = refEvent{value: v, applied: true}
	}
	for i := 0; i < 50; i++ {
		v := uint64(rng.Intn(longN)) + 1
		began := time.Now()
		got, err := r.StateAt(ctx, "counters", "long", v, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		var st counter
		_ = jsonUnmarshal(got.State, &st)
		if want := refState(ref, v); !reflect.DeepEqual(st, want) {
			t.Fatalf("long at v%d: %+v, want %+v", v, st, want)
		}
		if i == 0 {
			t.Logf("state at v%d of 100k: %v", v, time.Since(began))
		}
	}
	page, err := r.History(ctx, "counters", "long", -1, limits.HistoryPageEvents)
	if err != nil || len(page.Events) != limits.HistoryPageEvents || page.Next < 0 {
		t.Fatalf("first history page: %d events, next %d, %v", len(page.Events), page.Next, err)
	}
	// The last page, found without walking the rest.
	lastPage, err := r.History(ctx, "counters", "long", e.Offset-1, 10)
	if err != nil || len(lastPage.Events) != 1 || lastPage.Events[0].Version != longN {
		t.Fatalf("last page: %+v %v", lastPage, err)
	}
	if folded := metricSum(t, reg, "eventfold_processor_events_folded_total"); folded != float64(len(recs)) {
		t.Errorf("%v events folded, want %d", folded, len(recs))
	}
}
