package processor_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventfold/eventfold/codec"
	"github.com/eventfold/eventfold/entity"
	"github.com/eventfold/eventfold/eventfoldtest"
	"github.com/eventfold/eventfold/kafka"
	"github.com/eventfold/eventfold/processor"
)

// A small entity type for the processor's own tests: a counter that adds,
// and rejects negative additions as an invalid transition.
type counterEvent interface{ counterEvent() }

type added struct {
	N int `json:"n"`
}

func (*added) counterEvent() {}

type counter struct {
	Sum   int   `json:"sum"`
	Count int   `json:"count"`
	Last  []int `json:"last,omitempty"` // last few values, to catch reordering
}

var errNegative = errors.New("negative addition")

func evolveCounter(s counter, e counterEvent) (counter, error) {
	switch e := e.(type) {
	case *added:
		if e.N == 666 {
			panic("the number of the beast")
		}
		if e.N == 4242 {
			return s, fmt.Errorf("%w: 4242 is ignored", entity.ErrSkip)
		}
		if e.N < 0 {
			return s, fmt.Errorf("%w: %d", errNegative, e.N)
		}
		s.Sum += e.N
		s.Count++
		s.Last = append(s.Last, e.N)
		if len(s.Last) > 3 {
			s.Last = s.Last[1:]
		}
	}
	return s, nil
}

var counterEvents = codec.NewUnion[counterEvent]().MustRegister("Added", func() counterEvent { return &added{} })

var counterEntity = entity.Entity[counter, counterEvent]{
	Name:   "counters",
	Events: counterEvents,
	Evolve: evolveCounter,
}

func encodeAdded(t testing.TB, n int) []byte {
	b, err := counterEvents.Encode(&added{N: n})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// running is a processor running in the background of a test.
type running struct {
	*processor.Processor
	cancel context.CancelFunc
	done   chan error
}

func startProcessor(t testing.TB, brokers []string, dir string, opts ...processor.Option) *running {
	t.Helper()
	return startEntities(t, brokers, dir, []entity.Definition{counterEntity}, opts...)
}

// startEntities runs a processor of defs (4 partitions, data in dir, opts
// applied last) in the background until the test ends, and waits until it
// recovered.
func startEntities(t testing.TB, brokers []string, dir string, defs []entity.Definition, opts ...processor.Option) *running {
	t.Helper()
	opts = append([]processor.Option{
		processor.WithDataDir(dir),
		processor.WithPartitions(4),
		processor.WithSaramaConfig(eventfoldtest.SaramaConfig()),
	}, opts...)
	p, err := processor.New(brokers, defs, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Processor: p, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- p.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	if err := p.WaitRecovered(eventfoldtest.Context(t, 30*time.Second)); err != nil {
		t.Fatalf("processor did not recover: %v", err)
	}
	return r
}

// stop cancels the processor and waits for Run to return; idempotent.
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
	case <-time.After(30 * time.Second):
		t.Fatal("processor did not stop within 30s")
	}
}

func produce(t *testing.T, brokers []string, recs []kafka.Record) []kafka.Position {
	t.Helper()
	pr, err := kafka.NewProducer(brokers, eventfoldtest.SaramaConfig(), kafka.FNV1a)
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	pos, err := pr.SendAll(eventfoldtest.Context(t, time.Minute), recs)
	if err != nil {
		t.Fatal(err)
	}
	return pos
}

// waitVersions waits until every key in want has the wanted version on p.
func waitVersions(t *testing.T, p *processor.Processor, entityName string, want map[string]uint64) {
	t.Helper()
	ctx := context.Background()
	eventfoldtest.Eventually(t, 60*time.Second, func() error {
		for k, v := range want {
			e, err := p.Get(ctx, entityName, k)
			if err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
			if e.Version != v {
				return fmt.Errorf("%s: version %d, want %d", k, e.Version, v)
			}
		}
		return nil
	})
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func newRegistry() *prometheus.Registry { return prometheus.NewRegistry() }
