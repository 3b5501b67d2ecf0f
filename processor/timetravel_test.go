package processor_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"reflect"
	"testing"
	"time"

	"github.com/eventfold/eventfold"
	"github.com/eventfold/eventfold/eventfoldtest"
	"github.com/eventfold/eventfold/kafka"
	"github.com/eventfold/eventfold/limits"
	"github.com/eventfold/eventfold/processor"
	"github.com/eventfold/eventfold/table"
)

// genTimed makes events over keys with strictly increasing timestamps; some
// are negative (rejected by Evolve) and some are two-event command batches.
// It returns the records and, per key, the sequence an independent fold
// sees: each event with whether it applies.
type refEvent struct {
	value   int
	applied bool
	at      time.Time
}

func genTimed(t *testing.T, seed int64, keys []string, weights []int, n int, start time.Time) ([]kafka.Record, map[string][]refEvent) {
	rng := rand.New(rand.NewSource(seed))
	total := 0
	for _, w := range weights {
		total += w
	}
	pick := func() string {
		x := rng.Intn(total)
		for i, w := range weights {
			if x < w {
				return keys[i]
			}
			x -= w
		}
		return keys[len(keys)-1]
	}
	var recs []kafka.Record
	ref := map[string][]refEvent{}
	version := map[string]uint64{}
	at := start
	for len(recs) < n {
		key := pick()
		at = at.Add(time.Millisecond)
		switch r := rng.Intn(20); {
		case r == 0: // a two-event command on the current version: applies whole
			v1, v2 := rng.Intn(50), rng.Intn(50)
			id := fmt.Sprintf("c%d", len(recs))
			e1, e2 := cmdEvent(t, key, id, version[key], 0, 2, v1), cmdEvent(t, key, id, version[key], 1, 2, v2)
			e1.Timestamp, e2.Timestamp = at, at.Add(time.Millisecond)
			at = at.Add(time.Millisecond)
			recs = append(recs, e1, e2)
			ref[key] = append(ref[key], refEvent{v1, true, e1.Timestamp}, refEvent{v2, true, e2.Timestamp})
			version[key] += 2
		case r == 1: // a command on a stale version: rejected
			if version[key] == 0 {
				continue
			}
			e := cmdEvent(t, key, fmt.Sprintf("s%d", len(recs)), version[key]-1, 0, 1, 7)
			e.Timestamp = at
			recs = append(recs, e)
			ref[key] = append(ref[key], refEvent{7, false, at})
		default:
			v := rng.Intn(100)
			if rng.Intn(15) == 0 {
				v = -1 - v
			}
			e := plainEvent(t, key, v)
			e.Timestamp = at
			recs = append(recs, e)
			ref[key] = append(ref[key], refEvent{v, v >= 0, at})
			if v >= 0 {
				version[key]++
			}
		}
	}
	return recs, ref
}

// refState folds the first `version` applied events of a key.
func refState(evs []refEvent, version uint64) counter {
	var s counter
	var n uint64
	for _, e := range evs {
		if n == version {
			break
		}
		if e.applied {
			s, _ = evolveCounter(s, &added{N: e.value})
			n++
		}
	}
	return s
}

func checkStateAt(t *testing.T, p *processor.Processor, rng *rand.Rand, ref map[string][]refEvent, keys []string, rounds int) int {
	t.Helper()
	ctx := eventfoldtest.Context(t, 2*time.Minute)
	checks := 0
	for i := 0; i < rounds; i++ {
		key := keys[rng.Intn(len(keys))]
		evs := ref[key]
		var total uint64
		for _, e := range evs {
			if e.applied {
				total++
			}
		}
		// By version.
		v := uint64(rng.Int63n(int64(total))) + 1
		e, err := p.StateAt(ctx, "counters", key, v, time.Time{})
		if err != nil {
			t.Fatalf("StateAt(%s, v%d): %v", key, v, err)
		}
		var got counter
		if err := jsonUnmarshal(e.State, &got); err != nil {
			t.Fatal(err)
		}
		if want := refState(evs, v); !reflect.DeepEqual(got, want) || e.Version != v {
			t.Fatalf("%s at v%d: got %+v (v%d), want %+v", key, v, got, e.Version, want)
		}
		// By time: just after a random event.
		j := rng.Intn(len(evs))
		asOf := evs[j].at
		var applied uint64
		for _, ev := range evs[:j+1] {
			if ev.applied {
				applied++
			}
		}
		e, err = p.StateAt(ctx, "counters", key, 0, asOf)
		if applied == 0 {
			if !errors.Is(err, eventfold.ErrNotFound) {
				t.Fatalf("%s as of %v (before it existed): %v", key, asOf, err)
			}
		} else {
			if err != nil {
				t.Fatalf("StateAt(%s, %v): %v", key, asOf, err)
			}
			_ = jsonUnmarshal(e.State, &got)
			if want := refState(evs, applied); !reflect.DeepEqual(got, want) || e.Version != applied {
				t.Fatalf("%s as of %v: got %+v v%d, want %+v v%d", key, asOf, got, e.Version, want, applied)
			}
		}
		checks += 2
	}
	return checks
}

func TestTimeTravel(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 2)
	dir := t.TempDir()
	opts := []processor.Option{processor.WithHistoryFanout(4)} // deep trees from few events
	r := startCommanded(t, k, append(opts, processor.WithDataDir(dir))...)
	keys := []string{"long", "mid", "a", "b", "c", "d"}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	recs, ref := genTimed(t, 5, keys, []int{60, 20, 5, 5, 5, 5}, 1500, start)
	pos := produce(t, k.Brokers, recs)
	last := map[string]int64{}
	for i, rec := range recs {
		last[rec.Key] = pos[i].Offset
	}
	eventfoldtest.Eventually(t, 60*time.Second, func() error {
		for key, off := range last {
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			err := r.WaitApplied(ctx, "counters", key, off)
			cancel()
			if err != nil {
				return fmt.Errorf("%s: %w", key, err)
			}
		}
		return nil
	})

	// History: every key's events, exactly as in the topic, in pages.
	msgs, err := kafka.ReadAll(eventfoldtest.Context(t, time.Minute), k.Brokers, eventfoldtest.SaramaConfig(), "counters-events")
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range keys {
		var want []int64
		for _, m := range msgs {
			if string(m.Key) == key {
				want = append(want, m.Offset)
			}
		}
		var got []table.HistoryEvent
		after := int64(-1)
		for {
			page, err := r.History(context.Background(), "counters", key, after, 7)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, page.Events...)
			if page.Next < 0 {
				break
			}
			after = page.Next
		}
		if len(got) != len(want) || len(got) != len(ref[key]) {
			t.Fatalf("%s: history has %d events, topic %d, reference %d", key, len(got), len(want), len(ref[key]))
		}
		var version uint64
		for i, e := range got {
			if e.Offset != want[i] || e.Applied != ref[key][i].applied || e.Type != "Added" || !e.Timestamp.Equal(ref[key][i].at) {
				t.Fatalf("%s event %d: %+v, want offset %d applied %v at %v", key, i, e, want[i], ref[key][i].applied, ref[key][i].at)
			}
			if e.Applied {
				version++
			}
			if e.Version != version {
				t.Fatalf("%s event %d: version %d, want %d", key, i, e.Version, version)
			}
		}
	}
	if _, err := r.History(context.Background(), "counters", "long", -1, limits.HistoryPageEvents+1); !errors.Is(err, eventfold.ErrInvalid) {
		t.Errorf("oversized page: %v", err)
	}

	rng := rand.New(rand.NewSource(9))
	checks := checkStateAt(t, r.Processor, rng, ref, keys, 300)
	r.stop(t)

	// Another node takes over from the changelog alone (fresh data dir).
	r2 := startCommanded(t, k, append(opts, processor.WithDataDir(t.TempDir()))...)
	checks += checkStateAt(t, r2.Processor, rng, ref, keys, 250)
	t.Logf("%d point-in-time comparisons, 0 mismatches", checks)
	if checks < 1000 {
		t.Errorf("only %d comparisons", checks)
	}
}
