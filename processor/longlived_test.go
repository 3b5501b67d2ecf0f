package processor_test

import (
	"context"
	"fmt"
	"math/rand"
	"reflect"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/eventfold/eventfold/eventfoldtest"
	"github.com/eventfold/eventfold/kafka"
	"github.com/eventfold/eventfold/limits"
	"github.com/eventfold/eventfold/processor"
)

// One entity with 100k events among 2,000 small ones: its envelope stays
// bounded as it grows (measured after each quarter), and history and
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
	// Produce in quarters; after each, the entity's stored envelope must
	// stay bounded (the history index seals its events away), whatever
	// the entity's length. The rates are logged for the record only.
	var rates []float64
	var sizes []int
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
		var size int
		eventfoldtest.Eventually(t, 30*time.Second, func() error {
			var off int64
			size, off = lastChangelogValue(t, k.Brokers, "eventfold-counters-table", "long", kafka.FNV1a.Partition("long", 4))
			if off < 0 {
				return fmt.Errorf("no changelog record of long yet")
			}
			return nil
		})
		sizes = append(sizes, size)
		if size > maxLongEnvelope {
			t.Errorf("after quarter %d the envelope of an entity with %d events takes %d bytes, over %d", i+1, len(longVals), size, maxLongEnvelope)
		}
	}
	t.Logf("produce+fold rate per quarter (events/s): %.0f %.0f %.0f %.0f; envelope bytes: %v", rates[0], rates[1], rates[2], rates[3], sizes)

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

// maxLongEnvelope bounds the envelope of a counter with any number of
// events: a small state, at most a fanout of open entries, and at most a
// fanout of pointers on each of the few levels of the history index.
const maxLongEnvelope = 8 << 10

// lastChangelogValue returns the size and offset of key's newest record in
// the last 2,000 records of topic's partition (-1: none there).
func lastChangelogValue(t *testing.T, brokers []string, topic, key string, partition int32) (int, int64) {
	t.Helper()
	client, err := sarama.NewClient(brokers, eventfoldtest.SaramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	hwm, err := client.GetOffset(topic, partition, sarama.OffsetNewest)
	if err != nil {
		t.Fatal(err)
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	pc, err := consumer.ConsumePartition(topic, partition, max(hwm-2000, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	size, at := 0, int64(-1)
	for at < hwm-1 {
		select {
		case m := <-pc.Messages():
			if string(m.Key) == key {
				size, at = len(m.Value), m.Offset
			}
			if m.Offset >= hwm-1 {
				return size, at
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("reading %s/%d up to %d: stalled", topic, partition, hwm)
		}
	}
	return size, at
}
