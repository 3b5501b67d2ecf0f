package subscriber_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/eventfold/eventfold/eventfoldtest"
	"github.com/eventfold/eventfold/kafka"
	"github.com/eventfold/eventfold/subscriber"
)

// A Sink gets a partition's batches in the partition's order, each
// released by one event: a command's events together, at the offset of
// the event that ended the command (after a later event of another key),
// each delivery with the entity's state before and after it.
func TestSinkGetsBatchesInPartitionOrderWithBothStates(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	ensureTopics(t, k.Brokers)
	a, b := "a", ""
	for i := 0; b == ""; i++ {
		if c := "b" + string(rune('0'+i%10)) + string(rune('a'+i/10)); c != a && kafka.FNV1a.Partition(c, 4) == kafka.FNV1a.Partition(a, 4) {
			b = c
		}
	}
	cmd := commandEvents(b, "cmd-1", 0, 2, 3)
	recs := []kafka.Record{plain(a, 1), cmd[0], plain(a, 4), cmd[1], plain(a, -1), plain(a, 5)}
	produce(t, k.Brokers, recs)

	var (
		mu      sync.Mutex
		batches []subscriber.Batch
	)
	sink := subscriber.Subscriber{Name: "sink", Entities: []string{"counters"}, Sink: func(bt subscriber.Batch, done func()) {
		mu.Lock()
		batches = append(batches, bt)
		mu.Unlock()
		go done() // from another goroutine, as a producer's acknowledgement would
	}}
	start(t, k.Brokers, "sinkapp", []subscriber.Subscriber{sink})
	eventfoldtest.Eventually(t, 30*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if n := len(batches); n < 5 {
			return fmt.Errorf("%d batches, want 5", n)
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	type want struct {
		id             string
		applied        bool
		before, after  string
		existed, exist bool
	}
	wants := [][]want{
		{{a, true, "", `{"sum":1,"count":1}`, false, true}},
		{{a, true, `{"sum":1,"count":1}`, `{"sum":5,"count":2}`, true, true}},
		{{b, true, "", `{"sum":2,"count":1}`, false, true}, {b, true, `{"sum":2,"count":1}`, `{"sum":5,"count":2}`, true, true}},
		{{a, false, `{"sum":5,"count":2}`, `{"sum":5,"count":2}`, true, true}},
		{{a, true, `{"sum":5,"count":2}`, `{"sum":10,"count":3}`, true, true}},
	}
	if len(batches) != len(wants) {
		t.Fatalf("%d batches, want %d", len(batches), len(wants))
	}
	for i, bt := range batches {
		if i > 0 && bt.Offset <= batches[i-1].Offset {
			t.Errorf("batch %d released at offset %d, after %d", i, bt.Offset, batches[i-1].Offset)
		}
		if len(bt.Deliveries) != len(wants[i]) {
			t.Fatalf("batch %d has %d deliveries, want %d", i, len(bt.Deliveries), len(wants[i]))
		}
		last := bt.Deliveries[len(bt.Deliveries)-1]
		if bt.Offset != last.Offset {
			t.Errorf("batch %d released at %d, its last event is at %d", i, bt.Offset, last.Offset)
		}
		for j, d := range bt.Deliveries {
			w := wants[i][j]
			before, existed, after, exists := d.RawStates()
			if d.ID != w.id || d.Applied != w.applied || string(before) != w.before || string(after) != w.after || existed != w.existed || exists != w.exist {
				t.Errorf("batch %d delivery %d: %s applied %v before %s (%v) after %s (%v), want %+v", i, j, d.ID, d.Applied, before, existed, after, exists, w)
			}
		}
	}
}

// A sink may say done out of order (each batch's acknowledgements are
// waited for on their own). The state kept for a restart must still be
// the newest: a later run that starts after the three events folds the
// fourth onto all three, not onto the one whose done came last.
func TestSinkDoneOutOfOrderKeepsTheNewestState(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	ensureTopics(t, k.Brokers)
	produce(t, k.Brokers, []kafka.Record{plain("a", 1), plain("a", 2), plain("a", 3)})
	var (
		mu    sync.Mutex
		dones []func()
	)
	held := subscriber.Subscriber{Name: "sink", Entities: []string{"counters"}, Sink: func(_ subscriber.Batch, done func()) {
		mu.Lock()
		dones = append(dones, done)
		mu.Unlock()
	}}
	r := start(t, k.Brokers, "sinkorder", []subscriber.Subscriber{held})
	eventfoldtest.Eventually(t, 30*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(dones) < 3 {
			return fmt.Errorf("%d batches", len(dones))
		}
		return nil
	})
	mu.Lock()
	for _, i := range []int{2, 0, 1} { // the last batch's acknowledgement first, the middle one's last
		dones[i]()
	}
	mu.Unlock()
	eventfoldtest.Eventually(t, 30*time.Second, func() error {
		for _, st := range r.Status() {
			if st.Lag > 0 || len(st.Partitions["counters"]) == 0 {
				return fmt.Errorf("lag %d on partitions %v", st.Lag, st.Partitions)
			}
		}
		return nil
	})
	r.stop(t) // flushes the state and commits

	produce(t, k.Brokers, []kafka.Record{plain("a", 4)})
	var (
		bmu     sync.Mutex
		batches []subscriber.Batch
	)
	again := subscriber.Subscriber{Name: "sink", Entities: []string{"counters"}, Sink: func(b subscriber.Batch, done func()) {
		bmu.Lock()
		batches = append(batches, b)
		bmu.Unlock()
		done()
	}}
	start(t, k.Brokers, "sinkorder", []subscriber.Subscriber{again})
	eventfoldtest.Eventually(t, 30*time.Second, func() error {
		bmu.Lock()
		defer bmu.Unlock()
		if len(batches) == 0 {
			return fmt.Errorf("no batch yet")
		}
		return nil
	})
	bmu.Lock()
	defer bmu.Unlock()
	d := batches[0].Deliveries[0]
	before, _, after, _ := d.RawStates()
	if len(batches) != 1 || string(before) != `{"sum":6,"count":3}` || string(after) != `{"sum":10,"count":4}` {
		t.Fatalf("after the restart: %d batches, the first %s -> %s; want one, {sum 6} -> {sum 10}", len(batches), before, after)
	}
}
