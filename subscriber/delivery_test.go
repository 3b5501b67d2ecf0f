package subscriber_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/eventfold/eventfold/eventfoldtest"
	"github.com/eventfold/eventfold/kafka"
	"github.com/eventfold/eventfold/limits"
	"github.com/eventfold/eventfold/processor"
	"github.com/eventfold/eventfold/subscriber"
)

func TestAHandlerThatFailsTwiceIsDeliveredThreeTimesThenNeverAgain(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	ensureTopics(t, k.Brokers)
	produce(t, k.Brokers, []kafka.Record{plain("a", 1), plain("a", 2), plain("b", 3)})
	var rec recorder
	var flaky string
	var mu sync.Mutex
	h := subscriber.HandlerFunc(func(ctx context.Context, d subscriber.Delivery) error {
		rec.add(d)
		mu.Lock()
		defer mu.Unlock()
		if d.ID == "a" && d.Version == 1 {
			flaky = d.EventID
			if d.Attempt < 3 {
				return errors.New("down for a moment")
			}
		}
		return nil
	})
	sub := subscriber.Subscriber{Name: "flaky", Entities: []string{"counters"}, Handler: h, Backoff: 10 * time.Millisecond}
	r := start(t, k.Brokers, "flaky", []subscriber.Subscriber{sub})
	eventfoldtest.Eventually(t, 60*time.Second, func() error {
		if n := len(rec.byEvent()); n < 3 {
			return fmt.Errorf("%d of 3 events delivered", n)
		}
		return nil
	})
	waitStatus(t, r, "flaky", func(s subscriber.Status) error {
		if s.Delivered != 3 || s.Retried != 2 || s.Lag != 0 {
			return fmt.Errorf("delivered %d retried %d lag %d, want 3, 2 and 0", s.Delivered, s.Retried, s.Lag)
		}
		return nil
	})
	r.stop(t)
	// A new runner in the same group starts after what was done.
	produce(t, k.Brokers, []kafka.Record{plain("a", 4)})
	start(t, k.Brokers, "flaky", []subscriber.Subscriber{sub})
	eventfoldtest.Eventually(t, 60*time.Second, func() error {
		if n := len(rec.byEvent()); n < 4 {
			return fmt.Errorf("%d of 4 events delivered", n)
		}
		return nil
	})
	var attempts []int
	for _, d := range rec.snapshot() {
		if d.EventID == flaky {
			attempts = append(attempts, d.Attempt)
		}
	}
	if fmt.Sprint(attempts) != "[1 2 3]" {
		t.Errorf("attempts of the flaky delivery: %v, want [1 2 3]", attempts)
	}
	for id, n := range rec.byEvent() {
		if id != flaky && n != 1 {
			t.Errorf("%s handed to the handler %d times, want 1", id, n)
		}
	}
	last := rec.snapshot()[len(rec.snapshot())-1]
	if last.ID != "a" || last.Version != 3 || string(last.State) != `{"sum":7,"count":3}` {
		t.Errorf("after the restart: %s version %d state %s, want a, 3 and sum 7", last.ID, last.Version, last.State)
	}
}

func TestAHandlerThatAlwaysFailsLandsInTheDeadLetterTopicAndLaterKeysContinue(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	ensureTopics(t, k.Brokers)
	var recs []kafka.Record
	for i := range 20 {
		recs = append(recs, plain("poison", i+1), plain(fmt.Sprintf("ok%d", i), 1))
	}
	produce(t, k.Brokers, recs)
	var rec recorder
	h := subscriber.HandlerFunc(func(ctx context.Context, d subscriber.Delivery) error {
		rec.add(d)
		if d.ID == "poison" {
			// A long error: its dead-letter header stays within ErrorTextBytes.
			return fmt.Errorf("cannot handle %s: %s", d.EventID, strings.Repeat("é", 3000))
		}
		return nil
	})
	r := start(t, k.Brokers, "dlq", []subscriber.Subscriber{{Name: "strict", Entities: []string{"counters"}, Handler: h,
		MaxAttempts: 3, Backoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}})
	eventfoldtest.Eventually(t, 60*time.Second, func() error {
		s := status(r, "strict")
		if s.Delivered != 20 || s.DeadLettered != 20 || s.Lag != 0 {
			return fmt.Errorf("delivered %d dead-lettered %d lag %d, want 20, 20, 0", s.Delivered, s.DeadLettered, s.Lag)
		}
		return nil
	})
	dl, err := kafka.ReadAll(eventfoldtest.Context(t, 30*time.Second), k.Brokers, eventfoldtest.SaramaConfig(), "dlq-sub-strict-dlq")
	if err != nil {
		t.Fatal(err)
	}
	if len(dl) != 20 {
		t.Fatalf("%d dead letters, want 20", len(dl))
	}
	tried := rec.byEvent()
	for _, m := range dl {
		h := map[string]string{}
		for _, x := range m.Headers {
			h[string(x.Key)] = string(x.Value)
		}
		if e := h[processor.HeaderError]; len(e) > limits.ErrorTextBytes || !utf8.ValidString(e) || !strings.HasPrefix(e, "cannot handle") {
			t.Errorf("dead letter error header of %d bytes (limit %d), valid UTF-8 %v", len(e), limits.ErrorTextBytes, utf8.ValidString(e))
		}
		if string(m.Key) != "poison" || h[processor.HeaderReason] != subscriber.ReasonHandler || h[subscriber.HeaderAttempts] != "3" ||
			h[processor.HeaderSourceTopic] != "counters-events" || tried[h[subscriber.HeaderEventID]] != 3 {
			t.Errorf("dead letter key %q headers %v (tried %d times)", m.Key, h, tried[h[subscriber.HeaderEventID]])
		}
	}
}

func TestAtMostOnceNeverDeliversTwiceAcrossRestarts(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	ensureTopics(t, k.Brokers)
	recs, wants := scenario(50, 20, 2)
	produce(t, k.Brokers, recs)
	var rec recorder
	h := subscriber.HandlerFunc(func(ctx context.Context, d subscriber.Delivery) error {
		rec.add(d)
		select { // slow enough for restarts to cut deliveries off
		case <-time.After(10 * time.Millisecond):
		case <-ctx.Done():
		}
		return nil
	})
	sub := subscriber.Subscriber{Name: "once", Entities: []string{"counters"}, Handler: h, Mode: subscriber.AtMostOnce, Concurrency: 4}
	for i := 0; i < 4; i++ {
		r := start(t, k.Brokers, "amo", []subscriber.Subscriber{sub}, subscriber.WithDrainTimeout(0))
		before := len(rec.snapshot())
		eventfoldtest.Eventually(t, 60*time.Second, func() error {
			if len(rec.snapshot()) < min(before+50, len(recs)) {
				return fmt.Errorf("waiting for deliveries: restart %d, %d before, %d now, status %+v", i, before, len(rec.snapshot()), status(r, "once"))
			}
			return nil
		})
		r.stop(t)
	}
	r := start(t, k.Brokers, "amo", []subscriber.Subscriber{sub})
	waitStatus(t, r, "once", func(s subscriber.Status) error {
		if s.Lag != 0 || len(s.Partitions["counters"]) != 4 {
			return fmt.Errorf("lag %d on partitions %v", s.Lag, s.Partitions)
		}
		return nil
	})
	counts := rec.byEvent()
	for id, n := range counts {
		if n > 1 {
			t.Errorf("%s delivered %d times at most once", id, n)
		}
	}
	// What was delivered carries the exact state all the same.
	got := map[string][]subscriber.Delivery{}
	for _, d := range rec.snapshot() {
		got[d.ID] = append(got[d.ID], d)
	}
	t.Logf("%d of %d events delivered through 4 restarts", len(counts), len(recs))
	checkSubset(t, k.Brokers, got, wants)
}

// checkSubset checks deliveries that may miss events (at most once):
// each is in key order and has the state the independent fold gives at
// its position.
func checkSubset(t *testing.T, brokers []string, got map[string][]subscriber.Delivery, wants map[string][]want) {
	t.Helper()
	all, err := kafka.ReadAll(eventfoldtest.Context(t, 30*time.Second), brokers, eventfoldtest.SaramaConfig(), "counters-events")
	if err != nil {
		t.Fatal(err)
	}
	rank := map[int64]int{} // a key's events are in one partition: offset -> rank among the key's events
	next := map[string]int{}
	for _, m := range all {
		rank[m.Offset*100+int64(m.Partition)] = next[string(m.Key)]
		next[string(m.Key)]++
	}
	bad := 0
	for key, ds := range got {
		for i, d := range ds {
			if i > 0 && d.Offset <= ds[i-1].Offset {
				t.Errorf("%s: offset %d after %d", key, d.Offset, ds[i-1].Offset)
			}
			w := wants[key][rank[d.Offset*100+int64(d.Partition)]]
			if g := decodeState(t, d); d.Applied != w.applied || d.Version != w.version || g != w.state {
				t.Errorf("%s (%s): applied %v version %d state %+v, want %v %d %+v", key, d.EventID, d.Applied, d.Version, g, w.applied, w.version, w.state)
				if bad++; bad > 20 {
					t.Fatal("too many mismatches")
				}
			}
		}
	}
}

func status(r *running, name string) subscriber.Status {
	for _, s := range r.Status() {
		if s.Name == name {
			return s
		}
	}
	return subscriber.Status{}
}

func waitStatus(t *testing.T, r *running, name string, cond func(subscriber.Status) error) {
	t.Helper()
	eventfoldtest.Eventually(t, 60*time.Second, func() error { return cond(status(r, name)) })
}

func TestAtLeastOnceRedeliversWhatWasInFlightWithTheSameState(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	ensureTopics(t, k.Brokers)
	recs, wants := scenario(50, 20, 3)
	produce(t, k.Brokers, recs)
	var rec recorder
	h := subscriber.HandlerFunc(func(ctx context.Context, d subscriber.Delivery) error {
		select {
		case <-time.After(5 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err() // cut off: not done
		}
		rec.add(d)
		return nil
	})
	sub := subscriber.Subscriber{Name: "alo", Entities: []string{"counters"}, Handler: h, Concurrency: 4}
	for i := 0; i < 4; i++ {
		r := start(t, k.Brokers, "alo", []subscriber.Subscriber{sub}, subscriber.WithDrainTimeout(0))
		before := len(rec.snapshot())
		eventfoldtest.Eventually(t, 60*time.Second, func() error {
			if len(rec.snapshot()) < min(before+100, len(recs)) {
				return fmt.Errorf("restart %d: %d deliveries", i, len(rec.snapshot()))
			}
			return nil
		})
		r.stop(t)
	}
	start(t, k.Brokers, "alo", []subscriber.Subscriber{sub})
	eventfoldtest.Eventually(t, 90*time.Second, func() error {
		if n := len(rec.byEvent()); n < len(recs) {
			return fmt.Errorf("%d of %d events delivered", n, len(recs))
		}
		return nil
	})
	checkDeliveries(t, rec.snapshot(), wants)
	first := map[string]subscriber.Delivery{}
	again := 0
	for _, d := range rec.snapshot() {
		f, ok := first[d.EventID]
		if !ok {
			first[d.EventID] = d
			continue
		}
		again++
		if f.Version != d.Version || f.Applied != d.Applied || string(f.State) != string(d.State) {
			t.Errorf("%s delivered again with version %d state %s, first %d %s", d.EventID, d.Version, d.State, f.Version, f.State)
		}
	}
	t.Logf("%d events, %d delivered again after 4 restarts", len(recs), again)
}

// Start FromNow: nothing appended before the subscriber first ran is
// delivered, and what comes after carries the state folded from the very
// first event; a restart does not move the start.
func TestFromNowDeliversOnlyNewEventsWithTheWholeState(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	ensureTopics(t, k.Brokers)
	var old []kafka.Record
	for i := range 40 {
		old = append(old, plain(fmt.Sprintf("k%d", i%8), 1))
	}
	produce(t, k.Brokers, old) // each of the 8 keys at sum 5, version 5
	var rec recorder
	sub := subscriber.Subscriber{Name: "late", Entities: []string{"counters"}, Start: subscriber.FromNow,
		Handler: subscriber.HandlerFunc(func(_ context.Context, d subscriber.Delivery) error { rec.add(d); return nil })}
	r := start(t, k.Brokers, "fromnow", []subscriber.Subscriber{sub})
	waitStatus(t, r, "late", func(s subscriber.Status) error {
		if len(s.Partitions["counters"]) != 4 || s.Lag != 0 {
			return fmt.Errorf("partitions %v lag %d", s.Partitions, s.Lag)
		}
		return nil
	})
	produce(t, k.Brokers, []kafka.Record{plain("k0", 10), plain("k9", 3)})
	eventfoldtest.Eventually(t, 30*time.Second, func() error {
		if n := len(rec.snapshot()); n != 2 {
			return fmt.Errorf("%d deliveries, want 2", n)
		}
		return nil
	})
	r.stop(t)
	produce(t, k.Brokers, []kafka.Record{plain("k0", 100)})
	start(t, k.Brokers, "fromnow", []subscriber.Subscriber{sub})
	eventfoldtest.Eventually(t, 30*time.Second, func() error {
		if n := len(rec.snapshot()); n != 3 {
			return fmt.Errorf("%d deliveries, want 3", n)
		}
		return nil
	})
	var got []string
	for _, d := range rec.snapshot() {
		got = append(got, fmt.Sprintf("%s v%d %s", d.ID, d.Version, d.State))
	}
	slices.Sort(got[:2]) // two keys: either order
	want := []string{`k0 v6 {"sum":15,"count":6}`, `k9 v1 {"sum":3,"count":1}`, `k0 v7 {"sum":115,"count":7}`}
	if !slices.Equal(got, want) {
		t.Errorf("deliveries %q, want %q", got, want)
	}
}
