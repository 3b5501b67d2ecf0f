package processor_test

// Tests of the code that keeps the fold exact across crashes, redeliveries
// and out-of-order finishes: each one fails when a part of that code is
// taken out (docs/testing.md lists the mutants they kill).

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eventfold/eventfold/entity"
	"github.com/eventfold/eventfold/eventfoldtest"
	"github.com/eventfold/eventfold/kafka"
	"github.com/eventfold/eventfold/processor"
	"github.com/eventfold/eventfold/table"
)

// committedOffset is the group's committed offset of partition 0 of
// topic (-1: none).
func committedOffset(t *testing.T, brokers []string, group, topic string) int64 {
	t.Helper()
	admin, err := sarama.NewClusterAdmin(brokers, eventfoldtest.SaramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	res, err := admin.ListConsumerGroupOffsets(group, map[string][]int32{topic: {0}})
	if err != nil {
		t.Fatal(err)
	}
	if b := res.GetBlock(topic, 0); b != nil {
		return b.Offset
	}
	return -1
}

// An event whose changelog write is slow, followed by one that finishes at
// once (a dead letter writes nothing to the changelog): the later one
// finishes first, and the committed offset must stay at the slow one until
// its write is acknowledged. Committing past it would lose its state on a
// crash (commit.go).
func TestCommitNeverPassesAnUnfinishedChangelogWrite(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	var (
		held    atomic.Bool
		release = make(chan struct{})
	)
	k.Cluster.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		k.Cluster.KeepControl()
		for _, tp := range req.(*kmsg.ProduceRequest).Topics {
			if strings.HasSuffix(tp.Topic, "-table") && !held.Swap(true) {
				k.Cluster.SleepControl(func() { <-release })
			}
		}
		return nil, nil, false
	})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock)

	r := startProcessor(t, k.Brokers, t.TempDir(), processor.WithPartitions(1), processor.WithoutHistory())
	pos := produce(t, k.Brokers, []kafka.Record{
		{Topic: "counters-events", Key: "slow", Value: encodeAdded(t, 1)}, // its changelog write is held
		{Topic: "counters-events", Key: "bad", Value: encodeAdded(t, -5)}, // dead letter, no table write
		{Topic: "counters-events", Key: "bad", Value: encodeAdded(t, -6)},
	})
	if pos[0].Offset != 0 || pos[2].Offset != 2 {
		t.Fatalf("positions %v, the test needs offsets 0..2 of partition 0", pos)
	}
	// The later events finished (their dead letters are written) while the
	// first one's changelog write is still held.
	eventfoldtest.Eventually(t, 30*time.Second, func() error {
		if !held.Load() {
			return errors.New("no changelog write held yet")
		}
		if n := len(deadLetters(t, k.Brokers, "counters-events-dlq")); n != 2 {
			return fmt.Errorf("%d dead letters, want 2", n)
		}
		return nil
	})
	// goka marks the finished offsets and sarama commits every 200 ms:
	// watch ten commit intervals; the commit must not move past offset 0.
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if c := committedOffset(t, k.Brokers, "eventfold-counters", "counters-events"); c > 0 {
			t.Fatalf("committed offset %d while offset 0's changelog write is in flight", c)
		}
		time.Sleep(50 * time.Millisecond)
	}
	unblock()
	eventfoldtest.Eventually(t, 30*time.Second, func() error {
		if c := committedOffset(t, k.Brokers, "eventfold-counters", "counters-events"); c != 3 {
			return fmt.Errorf("committed %d, want 3 once the write is acknowledged", c)
		}
		return nil
	})
	waitVersions(t, r.Processor, "counters", map[string]uint64{"slow": 1})
}

// goka writes the local table before the changelog. When the changelog
// write of a key's last event fails and the node stops, the local table is
// ahead of the changelog and the event's offset is not committed. The
// restarted node gets the event again, skips it (already folded) and must
// write the envelope again, or the changelog never gets it and every other
// node (or a fresh data dir) loses the event.
func TestLocalTableAheadOfTheChangelogIsRepaired(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	var refuse atomic.Bool
	// MESSAGE_TOO_LARGE is not retried: the write fails at once.
	refused := answerProduce(k, isTable, kerr.MessageTooLarge.Code, refuse.Load)
	dir := t.TempDir()
	r := startProcessor(t, k.Brokers, dir, processor.WithPartitions(1))
	produce(t, k.Brokers, []kafka.Record{plainEvent(t, "a", 1), plainEvent(t, "a", 2)})
	waitVersions(t, r.Processor, "counters", map[string]uint64{"a": 2})
	eventfoldtest.Eventually(t, 30*time.Second, func() error {
		return committedToEnd(t, k.Brokers, "eventfold-counters", "counters-events", 1)
	})

	// The third event's changelog write fails: the node stops with it.
	refuse.Store(true)
	produce(t, k.Brokers, []kafka.Record{plainEvent(t, "a", 4)})
	select {
	case err := <-r.done:
		r.cancel, r.done = nil, nil
		if err == nil {
			t.Fatal("Run returned nil after a changelog write failed")
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the processor still runs after its changelog write failed")
	}
	refuse.Store(false)
	if refused.Load() == 0 {
		t.Fatal("no changelog write refused: the test tested nothing")
	}

	// Restart on the same data dir: the event comes back and is skipped
	// (the local table had it), not applied a second time.
	reg := prometheus.NewRegistry()
	r = startProcessor(t, k.Brokers, dir, processor.WithPartitions(1), processor.WithRegisterer(reg))
	eventfoldtest.Eventually(t, 30*time.Second, func() error {
		if n := metricSum(t, reg, "eventfold_processor_events_redelivered_total"); n < 1 {
			return fmt.Errorf("%v events redelivered, want the third", n)
		}
		return committedToEnd(t, k.Brokers, "eventfold-counters", "counters-events", 1)
	})
	if n := metricSum(t, reg, "eventfold_processor_events_folded_total"); n != 0 {
		t.Fatalf("%v events applied after the restart: the local table was not ahead, the test tested nothing", n)
	}
	want := `{"sum":7,"count":3,"last":[1,2,4]}`
	checkState(t, r.Processor, "a", 3, want)
	r.stop(t)

	// The changelog alone (a fresh data dir) has the third event too.
	r = startProcessor(t, k.Brokers, t.TempDir(), processor.WithPartitions(1))
	checkState(t, r.Processor, "a", 3, want)
}

func checkState(t *testing.T, p *processor.Processor, key string, version uint64, state string) {
	t.Helper()
	e, err := p.Get(context.Background(), "counters", key)
	if err != nil {
		t.Fatalf("Get(%s): %v", key, err)
	}
	if e.Version != version || string(e.State) != state {
		t.Fatalf("%s: version %d state %s, want version %d state %s", key, e.Version, e.State, version, state)
	}
}

// The first events of a command are folded aside (pending); a crash or a
// rebalance that did not commit delivers them again. They must be
// recognised as already folded — by the offset the envelope saw, which
// for a pending event is not the offset of the last applied one — not
// folded (and indexed) a second time.
func TestRedeliveredPendingCommandEventsAreNotFoldedTwice(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	dir := t.TempDir()
	r := startCommanded(t, k, processor.WithDataDir(dir), processor.WithPartitions(1))
	pos := produce(t, k.Brokers, []kafka.Record{
		plainEvent(t, "p", 1),
		cmdEvent(t, "p", "cmd", 1, 0, 3, 10),
		cmdEvent(t, "p", "cmd", 1, 1, 3, 20),
	})
	eventfoldtest.Eventually(t, 20*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		return r.WaitApplied(ctx, "counters", "p", pos[2].Offset)
	})
	eventfoldtest.Eventually(t, 30*time.Second, func() error {
		return committedToEnd(t, k.Brokers, "eventfold-counters", "counters-events", 1)
	})
	r.stop(t)

	for _, tc := range []struct{ name, dir string }{{"local table", dir}, {"changelog only", t.TempDir()}} {
		t.Run(tc.name, func(t *testing.T) {
			resetOffsets(t, k.Brokers, "eventfold-counters", "counters-events", 1)
			reg := prometheus.NewRegistry()
			r := startCommanded(t, k, processor.WithDataDir(tc.dir), processor.WithPartitions(1), processor.WithRegisterer(reg))
			// All three come again: the applied one and both pending ones
			// are skipped.
			eventfoldtest.Eventually(t, 30*time.Second, func() error {
				if n := metricSum(t, reg, "eventfold_processor_events_redelivered_total"); n < 3 {
					return fmt.Errorf("%v of 3 events redelivered", n)
				}
				return nil
			})
			if n := metricSum(t, reg, "eventfold_processor_events_redelivered_total"); n != 3 {
				t.Errorf("%v events counted as redelivered, want 3", n)
			}
			if n := metricSum(t, reg, "eventfold_processor_command_events_rejected_total"); n != 0 {
				t.Errorf("%v command events rejected on redelivery", n)
			}
			page, err := r.History(context.Background(), "counters", "p", -1, 10)
			if err != nil {
				t.Fatal(err)
			}
			if got := historyOffsets(page); got != fmt.Sprint([]int64{pos[0].Offset, pos[1].Offset, pos[2].Offset}) {
				t.Errorf("history offsets %s, want each event once", got)
			}
			r.stop(t)
		})
	}
	// The command's last event completes it once: version 1 + 3.
	r = startCommanded(t, k, processor.WithDataDir(dir), processor.WithPartitions(1))
	last := produce(t, k.Brokers, []kafka.Record{cmdEvent(t, "p", "cmd", 1, 2, 3, 30)})
	waitVersions(t, r.Processor, "counters", map[string]uint64{"p": 4})
	checkState(t, r.Processor, "p", 4, `{"sum":61,"count":4,"last":[10,20,30]}`)
	page, err := r.History(context.Background(), "counters", "p", -1, 10)
	if err != nil {
		t.Fatal(err)
	}
	if got := historyOffsets(page); got != fmt.Sprint([]int64{pos[0].Offset, pos[1].Offset, pos[2].Offset, last[0].Offset}) {
		t.Errorf("history offsets %s, want each event once", got)
	}
	for _, e := range page.Events {
		if !e.Applied {
			t.Errorf("history event at %d not applied after the command completed", e.Offset)
		}
	}
}

func historyOffsets(p table.HistoryPage) string {
	var offs []int64
	for _, e := range p.Events {
		offs = append(offs, e.Offset)
	}
	return fmt.Sprint(offs)
}

// A command event that Evolve refuses in the fold (another producer wrote
// it; Execute checks its own) is dead-lettered with reason evolve, and the
// command it belongs to is aborted: a later copy of the same event index
// does not continue it.
func TestCommandEventThatFailsEvolveIsDeadLetteredAndAbortsTheCommand(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	r := startCommanded(t, k, processor.WithPartitions(1))
	pos := produce(t, k.Brokers, []kafka.Record{
		cmdEvent(t, "e", "c", 0, 0, 2, 1),
		cmdEvent(t, "e", "c", 0, 1, 2, -5), // Evolve refuses it
		cmdEvent(t, "e", "c", 0, 1, 2, 2),  // a retry of the same event: the command is gone
		plainEvent(t, "e", 100),
	})
	waitVersions(t, r.Processor, "counters", map[string]uint64{"e": 1})
	checkState(t, r.Processor, "e", 1, `{"sum":100,"count":1,"last":[100]}`)
	dl := waitDeadLetters(t, k.Brokers, "counters-events-dlq", 1)
	m := dl[posID(pos[1])]
	if m == nil {
		t.Fatalf("dead letters %v, none for %v", dl, pos[1])
	}
	if h := headers(m); h[processor.HeaderReason] != string(entity.ReasonEvolve) || string(m.Key) != "e" {
		t.Errorf("dead letter headers %v key %q, want reason %s", h, m.Key, entity.ReasonEvolve)
	}
}

// gate holds the fold of an event with value 777 until released, so a test
// can look at the processor while an event is being folded.
var gate struct {
	mu       sync.Mutex
	entered  chan struct{}
	released chan struct{}
}

var gatedEntity = entity.Entity[counter, counterEvent]{
	Name:   "gates",
	Events: counterEvents,
	Evolve: func(s counter, e counterEvent) (counter, error) {
		if a, ok := e.(*added); ok && a.N == 777 {
			gate.mu.Lock()
			entered, released := gate.entered, gate.released
			gate.mu.Unlock()
			if entered != nil {
				close(entered)
				<-released
			}
		}
		return evolveCounter(s, e)
	},
}

func startGated(t *testing.T, brokers []string, dir string) *running {
	t.Helper()
	p, err := processor.New(brokers, []entity.Definition{gatedEntity}, processor.WithDataDir(dir),
		processor.WithPartitions(1), processor.WithSaramaConfig(eventfoldtest.SaramaConfig()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Processor: p, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- p.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	if err := p.WaitRecovered(eventfoldtest.Context(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	return r
}

// A partition claimed at a committed offset has folded everything before
// that offset, not the offset itself: read-your-writes (WaitApplied, and
// Execute's catch-up) must wait for the event at the committed offset.
func TestWaitAppliedAfterARestartWaitsForTheEventAtTheCommittedOffset(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	dir := t.TempDir()
	r := startGated(t, k.Brokers, dir)
	rec := func(n int) kafka.Record {
		return kafka.Record{Topic: "gates-events", Key: "g", Value: encodeAdded(t, n)}
	}
	produce(t, k.Brokers, []kafka.Record{rec(1), rec(2), rec(3)})
	waitVersions(t, r.Processor, "gates", map[string]uint64{"g": 3})
	eventfoldtest.Eventually(t, 30*time.Second, func() error {
		return committedToEnd(t, k.Brokers, "eventfold-gates", "gates-events", 1)
	})
	r.stop(t)

	entered, released := make(chan struct{}), make(chan struct{})
	gate.mu.Lock()
	gate.entered, gate.released = entered, released
	gate.mu.Unlock()
	var once sync.Once
	release := func() { once.Do(func() { close(released) }) }
	t.Cleanup(func() {
		gate.mu.Lock()
		gate.entered, gate.released = nil, nil
		gate.mu.Unlock()
	})
	pos := produce(t, k.Brokers, []kafka.Record{rec(777)})
	if pos[0].Offset != 3 {
		t.Fatalf("the event landed at %v, the test needs offset 3", pos[0])
	}
	r = startGated(t, k.Brokers, dir)
	t.Cleanup(release) // cleanups run last first: the gate opens before the processor stops
	select {
	case <-entered: // the partition was claimed at offset 3; the event is being folded
	case <-time.After(30 * time.Second):
		t.Fatal("the event at the committed offset was not delivered")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	err := r.WaitApplied(ctx, "gates", "g", pos[0].Offset)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitApplied(offset 3) while offset 3 is being folded = %v, want a wait that times out", err)
	}
	release()
	if err := r.WaitApplied(eventfoldtest.Context(t, 30*time.Second), "gates", "g", pos[0].Offset); err != nil {
		t.Fatal(err)
	}
	e, err := r.Get(context.Background(), "gates", "g")
	if err != nil || e.Version != 4 {
		t.Fatalf("after WaitApplied: %+v, %v; want version 4", e, err)
	}
}

// The envelope keeps the newest command records (DESIGN.md: "the last
// few command ids"): a retry of the latest command after many others is
// still answered from the first execution.
func TestIdempotentRetryOfTheNewestCommandAfterMany(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	r := startCommanded(t, k, processor.WithPartitions(1))
	ctx := eventfoldtest.Context(t, time.Minute)
	const n = 24
	for i := 0; i < n; i++ {
		res, err := r.Execute(ctx, "counters", "many", []byte(`{"type":"Add","n":1}`), entity.CommandOptions{ID: fmt.Sprint("c", i)})
		if err != nil || res.Version != uint64(i+1) {
			t.Fatalf("command %d: %+v, %v", i, res, err)
		}
	}
	for _, i := range []int{n - 1, n - 2, n - 10} {
		res, err := r.Execute(ctx, "counters", "many", []byte(`{"type":"Add","n":1}`), entity.CommandOptions{ID: fmt.Sprint("c", i)})
		if err != nil || !res.Duplicate || res.Version != uint64(i+1) || res.Events != 0 {
			t.Errorf("retry of command %d: %+v, %v; want the first result (version %d)", i, res, err, i+1)
		}
	}
}

// Without the history index, an entity's rejected event still moves its
// envelope's Seen: a redelivery neither dead-letters it again nor applies
// anything.
func TestRedeliveredRejectedEventWithoutHistory(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	dir := t.TempDir()
	r := startProcessor(t, k.Brokers, dir, processor.WithPartitions(1), processor.WithoutHistory())
	produce(t, k.Brokers, []kafka.Record{plainEvent(t, "a", 1), plainEvent(t, "a", -5)})
	waitVersions(t, r.Processor, "counters", map[string]uint64{"a": 1})
	eventfoldtest.Eventually(t, 20*time.Second, func() error {
		if n := len(deadLetters(t, k.Brokers, "counters-events-dlq")); n != 1 {
			return fmt.Errorf("%d dead letters, want 1", n)
		}
		return committedToEnd(t, k.Brokers, "eventfold-counters", "counters-events", 1)
	})
	r.stop(t)
	for _, tc := range []struct{ name, dir string }{{"local table", dir}, {"changelog only", t.TempDir()}} {
		t.Run(tc.name, func(t *testing.T) {
			resetOffsets(t, k.Brokers, "eventfold-counters", "counters-events", 1)
			reg := prometheus.NewRegistry()
			r := startProcessor(t, k.Brokers, tc.dir, processor.WithPartitions(1), processor.WithoutHistory(), processor.WithRegisterer(reg))
			eventfoldtest.Eventually(t, 30*time.Second, func() error {
				if n := metricSum(t, reg, "eventfold_processor_events_redelivered_total") +
					metricSum(t, reg, "eventfold_processor_dead_letters_total"); n < 2 {
					return fmt.Errorf("%v of 2 events seen again", n)
				}
				return nil
			})
			if n := metricSum(t, reg, "eventfold_processor_dead_letters_total"); n != 0 {
				t.Errorf("%v events dead-lettered again", n)
			}
			if n := metricSum(t, reg, "eventfold_processor_events_folded_total"); n != 0 {
				t.Errorf("%v events applied again", n)
			}
			checkState(t, r.Processor, "a", 1, `{"sum":1,"count":1,"last":[1]}`)
			r.stop(t)
		})
	}
}
