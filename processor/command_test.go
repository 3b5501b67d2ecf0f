package processor_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventfold/eventfold"
	"github.com/eventfold/eventfold/codec"
	"github.com/eventfold/eventfold/entity"
	"github.com/eventfold/eventfold/eventfoldtest"
	"github.com/eventfold/eventfold/kafka"
	"github.com/eventfold/eventfold/processor"
)

// Commands of the counter: add one value, or several (one event each).
type counterCommand interface{ counterCommand() }

type add struct {
	N int `json:"n"`
}
type addMany struct {
	Values []int `json:"values"`
}

func (*add) counterCommand()     {}
func (*addMany) counterCommand() {}

var counterCommands = codec.NewUnion[counterCommand]().
	MustRegister("Add", func() counterCommand { return &add{} }).
	MustRegister("AddMany", func() counterCommand { return &addMany{} })

func decideCounter(s counter, c counterCommand) ([]counterEvent, error) {
	switch c := c.(type) {
	case *add:
		if c.N < 0 {
			return nil, errors.New("cannot add a negative number")
		}
		return []counterEvent{&added{N: c.N}}, nil
	case *addMany:
		var out []counterEvent
		for _, v := range c.Values {
			out = append(out, &added{N: v})
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown command %T", c)
}

var commandedCounter = entity.Entity[counter, counterEvent]{
	Name:     "counters",
	Events:   counterEvents,
	Evolve:   evolveCounter,
	Commands: entity.Commands[counter, counterEvent, counterCommand]{Codec: counterCommands, Decide: decideCounter},
}

func startCommanded(t *testing.T, k *eventfoldtest.Kafka, opts ...processor.Option) *running {
	t.Helper()
	return startEntities(t, k.Brokers, t.TempDir(), []entity.Definition{commandedCounter}, opts...)
}

// cmdEvent is an event as a command writes it.
func cmdEvent(t *testing.T, key, id string, expected uint64, i, n, value int) kafka.Record {
	return kafka.Record{Topic: "counters-events", Key: key, Value: encodeAdded(t, value), Headers: []sarama.RecordHeader{
		{Key: []byte(processor.HeaderCommandID), Value: []byte(id)},
		{Key: []byte(processor.HeaderExpectedVersion), Value: []byte(fmt.Sprint(expected))},
		{Key: []byte(processor.HeaderBatch), Value: []byte(fmt.Sprintf("%d/%d", i, n))},
	}}
}

func plainEvent(t *testing.T, key string, value int) kafka.Record {
	return kafka.Record{Topic: "counters-events", Key: key, Value: encodeAdded(t, value)}
}

// The fold rule, record by record: which interleavings apply what.
func TestFoldRuleForCommandEvents(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	reg := prometheus.NewRegistry()
	r := startCommanded(t, k, processor.WithRegisterer(reg))
	for _, tc := range []struct {
		name     string
		recs     func(key string) []kafka.Record
		sum      int
		version  uint64
		rejected int
	}{
		{"one-event command on its version", func(k string) []kafka.Record {
			return []kafka.Record{cmdEvent(t, k, "a", 0, 0, 1, 5)}
		}, 5, 1, 0},
		{"stale version rejected", func(k string) []kafka.Record {
			return []kafka.Record{plainEvent(t, k, 1), cmdEvent(t, k, "a", 0, 0, 1, 5)}
		}, 1, 1, 1},
		{"batch applied whole", func(k string) []kafka.Record {
			return []kafka.Record{cmdEvent(t, k, "a", 0, 0, 3, 1), cmdEvent(t, k, "a", 0, 1, 3, 2), cmdEvent(t, k, "a", 0, 2, 3, 3)}
		}, 6, 3, 0},
		{"two batches on the same version, interleaved: exactly one applies", func(k string) []kafka.Record {
			return []kafka.Record{
				cmdEvent(t, k, "a", 0, 0, 2, 1), cmdEvent(t, k, "b", 0, 0, 2, 10),
				cmdEvent(t, k, "a", 0, 1, 2, 2), cmdEvent(t, k, "b", 0, 1, 2, 20),
			}
		}, 30, 2, 1},
		{"two batches one after the other on the same version: the first applies", func(k string) []kafka.Record {
			return []kafka.Record{
				cmdEvent(t, k, "a", 0, 0, 2, 1), cmdEvent(t, k, "a", 0, 1, 2, 2),
				cmdEvent(t, k, "b", 0, 0, 2, 10), cmdEvent(t, k, "b", 0, 1, 2, 20),
			}
		}, 3, 2, 2},
		{"events without headers always apply", func(k string) []kafka.Record {
			return []kafka.Record{plainEvent(t, k, 1), plainEvent(t, k, 2), cmdEvent(t, k, "a", 2, 0, 1, 4), plainEvent(t, k, 8)}
		}, 15, 4, 0},
		{"a plain event in the middle of a batch aborts it", func(k string) []kafka.Record {
			return []kafka.Record{cmdEvent(t, k, "a", 0, 0, 2, 1), plainEvent(t, k, 7), cmdEvent(t, k, "a", 0, 1, 2, 2)}
		}, 7, 1, 1},
		{"a batch missing its first event never applies", func(k string) []kafka.Record {
			return []kafka.Record{cmdEvent(t, k, "a", 0, 1, 2, 2), plainEvent(t, k, 1)}
		}, 1, 1, 1},
		{"a duplicate of an applied command is rejected", func(k string) []kafka.Record {
			return []kafka.Record{cmdEvent(t, k, "a", 0, 0, 1, 5), cmdEvent(t, k, "a", 0, 0, 1, 5)}
		}, 5, 1, 1},
		{"an unfinished batch does not show", func(k string) []kafka.Record {
			return []kafka.Record{plainEvent(t, k, 1), cmdEvent(t, k, "a", 1, 0, 2, 5)}
		}, 1, 1, 0},
		{"a missing middle event: the last does not apply", func(k string) []kafka.Record {
			return []kafka.Record{cmdEvent(t, k, "a", 0, 0, 3, 1), cmdEvent(t, k, "a", 0, 2, 3, 3), plainEvent(t, k, 100)}
		}, 100, 1, 1},
		{"a missing middle event of a longer batch", func(k string) []kafka.Record {
			return []kafka.Record{
				cmdEvent(t, k, "a", 0, 0, 4, 1), cmdEvent(t, k, "a", 0, 1, 4, 2),
				cmdEvent(t, k, "a", 0, 3, 4, 4), plainEvent(t, k, 100),
			}
		}, 100, 1, 1},
		{"an event of another command in the middle does not continue it", func(k string) []kafka.Record {
			return []kafka.Record{cmdEvent(t, k, "a", 0, 0, 2, 1), cmdEvent(t, k, "b", 0, 1, 2, 50), cmdEvent(t, k, "a", 0, 1, 2, 2)}
		}, 3, 2, 1},
		{"a repeated middle event is rejected, the batch still applies once", func(k string) []kafka.Record {
			return []kafka.Record{
				cmdEvent(t, k, "a", 0, 0, 3, 1), cmdEvent(t, k, "a", 0, 1, 3, 2),
				cmdEvent(t, k, "a", 0, 1, 3, 2), cmdEvent(t, k, "a", 0, 2, 3, 3),
			}
		}, 6, 3, 1},
		{"a batch on a stale version after a plain event", func(k string) []kafka.Record {
			return []kafka.Record{plainEvent(t, k, 7), cmdEvent(t, k, "a", 0, 0, 2, 1), cmdEvent(t, k, "a", 0, 1, 2, 2)}
		}, 7, 1, 2},
		{"a batch on the version reached by an earlier batch", func(k string) []kafka.Record {
			return []kafka.Record{
				cmdEvent(t, k, "a", 0, 0, 2, 1), cmdEvent(t, k, "a", 0, 1, 2, 2),
				cmdEvent(t, k, "b", 2, 0, 2, 10), cmdEvent(t, k, "b", 2, 1, 2, 20),
			}
		}, 33, 4, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "k-" + tc.name
			before := metricSum(t, reg, "eventfold_processor_command_events_rejected_total")
			recs := tc.recs(key)
			recs = append(recs, plainEvent(t, "marker-"+tc.name, 0))
			pos := produce(t, k.Brokers, recs)
			// Wait for the key's partition to pass its last record.
			eventfoldtest.Eventually(t, 20*time.Second, func() error {
				last := pos[len(pos)-2]
				ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
				defer cancel()
				return r.WaitApplied(ctx, "counters", key, last.Offset)
			})
			e, err := r.Get(context.Background(), "counters", key)
			if err != nil {
				t.Fatal(err)
			}
			var got counter
			if err := jsonUnmarshal(e.State, &got); err != nil {
				t.Fatal(err)
			}
			if got.Sum != tc.sum || e.Version != tc.version {
				t.Errorf("sum %d version %d, want sum %d version %d", got.Sum, e.Version, tc.sum, tc.version)
			}
			if rej := metricSum(t, reg, "eventfold_processor_command_events_rejected_total") - before; rej != float64(tc.rejected) {
				t.Errorf("%v events rejected, want %d", rej, tc.rejected)
			}
		})
	}
}

func TestExecute(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	r := startCommanded(t, k)
	ctx := eventfoldtest.Context(t, time.Minute)
	add := func(key, cmd string, opts entity.CommandOptions) (entity.CommandResult, error) {
		return r.Execute(ctx, "counters", key, []byte(cmd), opts)
	}
	res, err := add("x", `{"type":"Add","n":5}`, entity.CommandOptions{})
	if err != nil || res.Version != 1 || res.Events != 1 || string(res.State) != `{"sum":5,"count":1,"last":[5]}` {
		t.Fatalf("first command: %+v, %v", res, err)
	}
	v1 := uint64(1)
	res, err = add("x", `{"type":"AddMany","values":[1,2,3]}`, entity.CommandOptions{ExpectedVersion: &v1, ID: "many"})
	if err != nil || res.Version != 4 || res.Events != 3 {
		t.Fatalf("batch: %+v, %v", res, err)
	}
	// If-Match on an old version: 409 with the current version.
	var ce *entity.ConflictError
	if _, err := add("x", `{"type":"Add","n":1}`, entity.CommandOptions{ExpectedVersion: &v1}); !errors.As(err, &ce) || ce.Current != 4 || !errors.Is(err, eventfold.ErrConflict) {
		t.Fatalf("stale If-Match: %v", err)
	}
	// The domain refuses.
	if _, err := add("x", `{"type":"Add","n":-1}`, entity.CommandOptions{}); !errors.Is(err, eventfold.ErrRejected) {
		t.Fatalf("negative add: %v", err)
	}
	// A command whose own events do not apply (Evolve rejects -1) appends nothing.
	if _, err := add("x", `{"type":"AddMany","values":[1,-1]}`, entity.CommandOptions{}); !errors.Is(err, eventfold.ErrRejected) {
		t.Fatalf("batch with an invalid event: %v", err)
	}
	for _, bad := range []string{`{"type":"Sub"}`, `not json`} {
		if _, err := add("x", bad, entity.CommandOptions{}); !errors.Is(err, eventfold.ErrInvalid) {
			t.Fatalf("%s: %v", bad, err)
		}
	}
	// A retry with the same id returns the first result and appends nothing.
	again, err := add("x", `{"type":"AddMany","values":[1,2,3]}`, entity.CommandOptions{ExpectedVersion: &v1, ID: "many"})
	if err != nil || !again.Duplicate || again.Version != 4 || again.Events != 0 {
		t.Fatalf("retry: %+v, %v", again, err)
	}
	// The same id with another request is refused, not answered with the
	// first result: the new command would be silently dropped otherwise.
	for _, other := range []struct {
		cmd  string
		opts entity.CommandOptions
	}{
		{`{"type":"AddMany","values":[7]}`, entity.CommandOptions{ExpectedVersion: &v1, ID: "many"}},
		{`{"type":"AddMany","values":[1,2,3]}`, entity.CommandOptions{ID: "many"}},
	} {
		if _, err := add("x", other.cmd, other.opts); !errors.Is(err, eventfold.ErrIdempotencyKeyReused) {
			t.Fatalf("id reused for %s: %v, want ErrIdempotencyKeyReused", other.cmd, err)
		}
	}
	e, _ := r.Get(ctx, "counters", "x")
	if e.Version != 4 {
		t.Fatalf("version %d after the retry, want 4", e.Version)
	}
}

// The owner died after producing a command's events and before answering;
// the client retries with the same Idempotency-Key: one set of events, the
// same answer.
func TestIdempotentRetryAfterCrashBetweenProduceAndAnswer(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	if _, err := kafka.EnsureTopics(eventfoldtest.Context(t, time.Minute), k.Brokers, eventfoldtest.SaramaConfig(),
		[]kafka.TopicSpec{{Name: "counters-events", Kind: kafka.Events, Partitions: 4}}); err != nil {
		t.Fatal(err)
	}
	// What the dead owner managed to write: the command's events, decided on version 0.
	produce(t, k.Brokers, []kafka.Record{
		cmdEvent(t, "y", "retry-me", 0, 0, 2, 4), cmdEvent(t, "y", "retry-me", 0, 1, 2, 6),
	})
	r := startCommanded(t, k) // the new owner
	ctx := eventfoldtest.Context(t, time.Minute)
	res, err := r.Execute(ctx, "counters", "y", []byte(`{"type":"AddMany","values":[4,6]}`), entity.CommandOptions{ID: "retry-me"})
	if err != nil || !res.Duplicate || res.Version != 2 || res.Events != 0 {
		t.Fatalf("retry: %+v, %v", res, err)
	}
	msgs, err := kafka.ReadAll(ctx, k.Brokers, eventfoldtest.SaramaConfig(), "counters-events")
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 {
		t.Fatalf("%d events in the topic, want 2", len(msgs))
	}
}
