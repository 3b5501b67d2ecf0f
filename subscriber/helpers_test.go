package subscriber_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventfold/eventfold/cluster"
	"github.com/eventfold/eventfold/codec"
	"github.com/eventfold/eventfold/entity"
	"github.com/eventfold/eventfold/eventfoldtest"
	"github.com/eventfold/eventfold/kafka"
	"github.com/eventfold/eventfold/processor"
	"github.com/eventfold/eventfold/subscriber"
)

// The test entity: a counter that adds and rejects negative additions.
type counterEvent interface{ counterEvent() }

type added struct {
	N int `json:"n"`
}

func (*added) counterEvent() {}

type counter struct {
	Sum   int `json:"sum"`
	Count int `json:"count"`
}

func evolve(s counter, e counterEvent) (counter, error) {
	a := e.(*added)
	if a.N < 0 {
		return s, fmt.Errorf("negative addition %d", a.N)
	}
	s.Sum += a.N
	s.Count++
	return s, nil
}

var counterEvents = codec.NewUnion[counterEvent]().MustRegister("Added", func() counterEvent { return &added{} })

var counters = entity.Entity[counter, counterEvent]{Name: "counters", Events: counterEvents, Evolve: evolve}

func counterType(t testing.TB) *entity.Type {
	typ, err := counters.Type()
	if err != nil {
		t.Fatal(err)
	}
	return typ
}

func addedEvent(n int) []byte {
	b, _ := counterEvents.Encode(&added{N: n})
	return b
}

// commandEvents are the records of a command of ns decided on version
// expected (the headers processor.Execute writes).
func commandEvents(key, id string, expected uint64, ns ...int) []kafka.Record {
	var out []kafka.Record
	for i, n := range ns {
		out = append(out, kafka.Record{Topic: "counters-events", Key: key, Value: addedEvent(n), Headers: []sarama.RecordHeader{
			{Key: []byte(processor.HeaderCommandID), Value: []byte(id)},
			{Key: []byte(processor.HeaderExpectedVersion), Value: []byte(strconv.FormatUint(expected, 10))},
			{Key: []byte(processor.HeaderBatch), Value: []byte(fmt.Sprintf("%d/%d", i, len(ns)))},
		}})
	}
	return out
}

func plain(key string, n int) kafka.Record {
	return kafka.Record{Topic: "counters-events", Key: key, Value: addedEvent(n)}
}

func produce(t testing.TB, brokers []string, recs []kafka.Record) {
	t.Helper()
	pr, err := kafka.NewProducer(brokers, eventfoldtest.SaramaConfig(), kafka.FNV1a)
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	if _, err := pr.SendAll(eventfoldtest.Context(t, time.Minute), recs); err != nil {
		t.Fatal(err)
	}
}

// recorder keeps every delivery, in the order handlers saw them.
type recorder struct {
	mu  sync.Mutex
	all []subscriber.Delivery
}

func (r *recorder) add(d subscriber.Delivery) {
	r.mu.Lock()
	r.all = append(r.all, d)
	r.mu.Unlock()
}

func (r *recorder) snapshot() []subscriber.Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]subscriber.Delivery(nil), r.all...)
}

// byEvent counts deliveries (attempts that reached the handler) per event id.
func (r *recorder) byEvent() map[string]int {
	out := map[string]int{}
	for _, d := range r.snapshot() {
		out[d.EventID]++
	}
	return out
}

// running is a Runner in the background of a test.
type running struct {
	*subscriber.Runner
	cancel context.CancelFunc
	done   chan error
}

func start(t testing.TB, brokers []string, app string, subs []subscriber.Subscriber, opts ...subscriber.Option) *running {
	t.Helper()
	opts = append([]subscriber.Option{
		subscriber.WithSettings(cluster.Settings{App: app, Sarama: eventfoldtest.SaramaConfig(), Partitioner: kafka.FNV1a, Registerer: prometheus.NewRegistry()}),
		subscriber.WithTopics(4, 1),
		subscriber.WithCommitInterval(100 * time.Millisecond),
	}, opts...)
	r, err := subscriber.New(brokers, []*entity.Type{counterType(t)}, subs, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	run := &running{Runner: r, cancel: cancel, done: make(chan error, 1)}
	go func() { run.done <- r.Run(ctx) }()
	t.Cleanup(func() { run.stop(t) })
	return run
}

func (r *running) stop(t testing.TB) {
	t.Helper()
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("runner did not stop within 60s")
	}
}

// ensureTopics creates the events topic (4 partitions) before anything is
// produced to it.
func ensureTopics(t testing.TB, brokers []string) {
	t.Helper()
	_, err := kafka.EnsureTopics(eventfoldtest.Context(t, 30*time.Second), brokers, eventfoldtest.SaramaConfig(),
		[]kafka.TopicSpec{{Name: "counters-events", Kind: kafka.Events, Partitions: 4, Replication: 1}})
	if err != nil {
		t.Fatal(err)
	}
}

func decodeState(t testing.TB, d subscriber.Delivery) counter {
	t.Helper()
	var c counter
	if string(d.State) == "" || string(d.State) == "null" {
		return c
	}
	if err := json.Unmarshal(d.State, &c); err != nil {
		t.Fatalf("%s: state %s: %v", d.EventID, d.State, err)
	}
	return c
}
