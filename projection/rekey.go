package projection

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/IBM/sarama"

	"github.com/eventfold/eventfold"
	"github.com/eventfold/eventfold/cluster"
	"github.com/eventfold/eventfold/entity"
	"github.com/eventfold/eventfold/kafka"
	"github.com/eventfold/eventfold/limits"
	"github.com/eventfold/eventfold/subscriber"
)

// ReasonMap is the dead-letter reason of a source event whose map failed
// (an error or a panic) or made an input that cannot be written (a key
// that is not a valid id, an input over limits.EventBytes).
const ReasonMap entity.Reason = "map"

// rekeyRetries is how often the producer retries an input (sarama keeps
// a slot per retry and partition, so not "forever"): with its backoff
// capped at a second, about an hour.
const rekeyRetries = 3600

// SubscriberName is the re-keying subscriber of projection name: its
// group is <app>-sub-proj-<name>.
func SubscriberName(name string) string { return "proj-" + name }

// Set is the projections of a node: their tables (entity types of kind
// projection, for the processor) and their re-keying stages (subscribers
// with a Sink, for the subscriber runner).
type Set struct {
	specs []*spec

	mu     sync.Mutex
	pr     *kafka.Producer
	ctx    context.Context // the producer's sends; cancelled by Close
	cancel context.CancelFunc
	topics map[string]string // projection -> repartition topic (prefixed)
	dlqs   map[string]string // projection -> dead-letter topic
	log    *slog.Logger
	waits  sync.WaitGroup
	// broken are the claims (by their Leaving channel) one of whose inputs
	// was not written: nothing after it may be, or a later input would be
	// in the topic without an earlier one.
	broken map[<-chan struct{}]bool
	marks  map[marksKey]*claimMarks

	client      sarama.Client // the repartition topics' partition counts
	partitioner kafka.Partitioner
}

// NewSet checks the projections.
func NewSet(defs ...Definition) (*Set, error) {
	s := &Set{}
	seen := map[string]bool{}
	for _, d := range defs {
		sp, err := d.spec()
		if err != nil {
			return nil, err
		}
		if seen[sp.name] {
			return nil, fmt.Errorf("projection: %w: %q declared twice", eventfold.ErrInvalid, sp.name)
		}
		if !entity.NameRE.MatchString(SubscriberName(sp.name)) {
			return nil, fmt.Errorf("projection: %w: name %q is too long (its subscriber %q must match %s)", eventfold.ErrInvalid, sp.name, SubscriberName(sp.name), entity.NameRE)
		}
		seen[sp.name] = true
		s.specs = append(s.specs, sp)
	}
	return s, nil
}

// Tables are the projections' fold stages, as entity type definitions.
func (s *Set) Tables() []entity.Definition {
	out := make([]entity.Definition, len(s.specs))
	for i, sp := range s.specs {
		out[i] = table{sp.table}
	}
	return out
}

type table struct{ t *entity.Type }

func (t table) Type() (*entity.Type, error) { return t.t, nil }

// Subscribers are the re-keying stages, one per projection, following its
// sources; their sinks write once Open was called.
func (s *Set) Subscribers() []subscriber.Subscriber {
	out := make([]subscriber.Subscriber, len(s.specs))
	for i, sp := range s.specs {
		out[i] = subscriber.Subscriber{Name: SubscriberName(sp.name), Entities: sp.order, Sink: s.sink(sp)}
	}
	return out
}

// Open connects the producer the sinks write with. types are the node's
// entity types with their topics as the node resolved them (its topic
// prefix), the projections' tables among them.
func (s *Set) Open(brokers []string, settings cluster.Settings, types []*entity.Type) error {
	settings = settings.WithDefaults()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.topics, s.dlqs, s.log = map[string]string{}, map[string]string{}, settings.Logger
	s.broken, s.marks, s.partitioner = map[<-chan struct{}]bool{}, map[marksKey]*claimMarks{}, settings.Partitioner
	for _, sp := range s.specs {
		for _, t := range types {
			if t.Name() == sp.name {
				s.topics[sp.name], s.dlqs[sp.name] = t.Topic(), t.DeadLetterTopic()
			}
		}
		if s.topics[sp.name] == "" {
			return fmt.Errorf("projection %s: %w: its table is not among the node's types", sp.name, eventfold.ErrInvalid)
		}
	}
	c := kafka.Copy(settings.Sarama, "eventfold-projections")
	// Retried for an hour (a second apart at most), in order: a record given up while a
	// later one of its partition is written would break the order the
	// dedupe relies on (docs/projections.md). A record the broker refuses
	// outright stops its source partition's re-keying instead.
	c.Producer.Retry.Max = rekeyRetries
	pr, err := kafka.NewProducer(brokers, c, settings.Partitioner)
	if err != nil {
		return fmt.Errorf("projection: %w", err)
	}
	client, err := sarama.NewClient(brokers, kafka.Copy(settings.Sarama, "eventfold-projections-meta"))
	if err != nil {
		pr.Close()
		return fmt.Errorf("projection: %w", err)
	}
	s.pr, s.client = pr, client
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return nil
}

// Close stops waiting for acknowledgements (batches not acknowledged are
// handed over again after the restart) and closes the producer.
func (s *Set) Close() error {
	s.mu.Lock()
	pr, cancel, client := s.pr, s.cancel, s.client
	s.pr, s.client = nil, nil
	marks := make([]*claimMarks, 0, len(s.marks))
	for _, cm := range s.marks {
		marks = append(marks, cm)
	}
	s.mu.Unlock()
	// cm.mu before s.mu, as the sink takes them.
	for _, cm := range marks {
		cm.mu.Lock()
		if cm.timer != nil {
			cm.timer.Stop() // one already running finds s.pr nil
		}
		cm.mu.Unlock()
	}
	if pr == nil {
		return nil
	}
	cancel()
	s.waits.Wait()
	client.Close()
	return pr.Close()
}

// sink writes a batch's inputs to the repartition topic in the batch's
// order and calls done once every one is acknowledged. Batches come in
// the order of their source partition, and the producer keeps that order
// per target partition: the (Order) property of docs/projections.md.
func (s *Set) sink(sp *spec) subscriber.Sink {
	return func(b subscriber.Batch, done func()) {
		s.mu.Lock()
		pr, ctx, topic, dlq, log, broken := s.pr, s.ctx, s.topics[sp.name], s.dlqs[sp.name], s.log, s.broken[b.Leaving]
		s.mu.Unlock()
		if pr == nil || broken {
			return // handed over again after the restart (or the rebalance)
		}
		mapping := sp.sources[b.Entity]
		cm := s.marksOf(sp.name, b.Leaving)
		cm.mu.Lock()
		defer cm.mu.Unlock()
		var waits []func(context.Context) (kafka.Position, error)
		start := func(r kafka.Record) bool {
			w, err := pr.Start(ctx, r)
			if err != nil {
				return false
			}
			waits = append(waits, w)
			return true
		}
		index := 0
		for _, d := range b.Deliveries {
			ins, keys, err := mapping(d)
			if err != nil {
				if !start(mapDeadLetter(dlq, d, err)) {
					return
				}
				continue
			}
			for i := range ins {
				o := Origin{Entity: b.Entity, Partition: b.Partition, Offset: b.Offset, Index: index}
				index++
				val, err := json.Marshal(input[any]{Origin: &o, In: ins[i]})
				if err == nil {
					err = checkOutput(keys[i], val)
				}
				if err != nil {
					if !start(mapDeadLetter(dlq, d, fmt.Errorf("input %d: %w", i, err))) {
						return
					}
					continue
				}
				if !start(kafka.Record{Topic: topic, Key: keys[i], Value: val, Timestamp: d.Timestamp}) {
					return
				}
			}
		}
		s.advance(sp, cm, b.Entity, b.Partition, b.Offset, b.Leaving)
		if len(waits) == 0 {
			done()
			return
		}
		s.waits.Go(func() {
			for _, w := range waits {
				if _, err := w(ctx); err != nil {
					s.mu.Lock()
					s.broken[b.Leaving] = true
					s.mu.Unlock()
					if ctx.Err() == nil {
						log.Error("projection input not written; the re-keying of its source partition stops here until the partition is assigned again",
							slog.String("projection", sp.name), slog.String("entity", b.Entity), slog.Int("partition", int(b.Partition)),
							slog.Int64("offset", b.Offset), slog.Any("error", err))
					}
					return
				}
			}
			done()
		})
	}
}

// checkOutput checks what a map made before it is written: the key is an
// id (the projection key is read through the API), the record fits.
func checkOutput(key string, val []byte) error {
	switch {
	case key == "":
		return errors.New("empty projection key")
	case len(key) > limits.IDBytes:
		return fmt.Errorf("projection key of %d bytes, the limit is %d", len(key), limits.IDBytes)
	case !utf8.ValidString(key):
		return errors.New("projection key is not valid UTF-8")
	case len(val) > limits.EventBytes:
		return fmt.Errorf("input of %d bytes, the limit is %d", len(val), limits.EventBytes)
	}
	for _, c := range key {
		if unicode.IsControl(c) {
			return fmt.Errorf("projection key contains the control character %U", c)
		}
	}
	return nil
}

// mapDeadLetter is the dead letter of a source event the map failed on:
// the event as stored, where it came from and why.
func mapDeadLetter(topic string, d subscriber.Delivery, err error) kafka.Record {
	value := []byte(d.Event)
	if len(value) > limits.EventBytes {
		value = nil
	}
	return kafka.Record{Topic: topic, Key: d.ID, Value: value, Headers: []sarama.RecordHeader{
		{Key: []byte(entity.DeadLetterHeaderError), Value: []byte(limits.Truncate(err.Error(), limits.ErrorTextBytes))},
		{Key: []byte(entity.DeadLetterHeaderReason), Value: []byte(ReasonMap)},
		{Key: []byte(entity.DeadLetterHeaderEventType), Value: []byte(limits.Truncate(d.Type, 256))},
		{Key: []byte(entity.DeadLetterHeaderSourceTopic), Value: []byte(d.Entity)},
		{Key: []byte(entity.DeadLetterHeaderSourcePartition), Value: []byte(strconv.Itoa(int(d.Partition)))},
		{Key: []byte(entity.DeadLetterHeaderSourceOffset), Value: []byte(strconv.FormatInt(d.Offset, 10))},
	}}
}
