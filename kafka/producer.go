package kafka

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/eventfold/eventfold"
)

// Record is one message to produce.
type Record struct {
	Topic   string
	Key     string
	Value   []byte
	Headers []sarama.RecordHeader
	// Timestamp is the record's create time; zero means now.
	Timestamp time.Time
	// Pinned sends the record to Partition instead of the key's partition
	// (a store that must sit beside the partition it was derived from,
	// whoever partitioned that).
	Pinned    bool
	Partition int32
}

// Position is where a record landed.
type Position struct {
	Partition int32 `json:"partition"`
	Offset    int64 `json:"offset"`
}

// Producer produces records with the project's configuration (acks=all,
// idempotent) and partitioner, and reports each record's position. It is
// safe for concurrent use; concurrent sends are batched by sarama.
type Producer struct {
	async   sarama.AsyncProducer
	done    chan struct{}
	metrics *ProducerMetrics

	mu     sync.RWMutex // guards closed against sends racing Close
	closed bool
}

type pending struct {
	ch     chan result
	pinned bool
}

// pinnable partitions by key unless the record is pinned.
type pinnable struct{ byKey sarama.Partitioner }

func (p pinnable) Partition(m *sarama.ProducerMessage, n int32) (int32, error) {
	if pd, ok := m.Metadata.(pending); ok && pd.pinned {
		if m.Partition < 0 || m.Partition >= n {
			return 0, fmt.Errorf("kafka: pinned partition %d of %s, which has %d", m.Partition, m.Topic, n)
		}
		return m.Partition, nil
	}
	return p.byKey.Partition(m, n)
}

func (p pinnable) RequiresConsistency() bool { return true }

type result struct {
	pos Position
	err error
}

// NewProducer connects a producer. p decides the partition of each key.
func NewProducer(brokers []string, base *sarama.Config, p Partitioner, opts ...ProducerOption) (*Producer, error) {
	c := Copy(base, base.ClientID+"-producer")
	byKey := sarama.NewCustomHashPartitioner(p.Hasher())
	c.Producer.Partitioner = func(topic string) sarama.Partitioner { return pinnable{byKey(topic)} }
	c.Producer.Return.Successes = true
	c.Producer.Return.Errors = true
	// Every caller waits for its record's acknowledgement (an HTTP append, a
	// command), so a linger adds straight to request latency. Batching still
	// happens under load: with one request in flight (the idempotent
	// producer's limit), records queue behind it and go out together.
	c.Producer.Flush.Frequency, c.Producer.Flush.Bytes, c.Producer.Flush.Messages = 0, 0, 0
	async, err := sarama.NewAsyncProducer(brokers, c)
	if err != nil {
		return nil, fmt.Errorf("kafka: producer for %s: %w", strings.Join(brokers, ","), err)
	}
	pr := &Producer{async: async, done: make(chan struct{})}
	for _, o := range opts {
		o(pr)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for m := range async.Successes() {
			pr.metrics.observe(m.Topic, nil)
			m.Metadata.(pending).ch <- result{pos: Position{Partition: m.Partition, Offset: m.Offset}}
		}
	}()
	go func() {
		defer wg.Done()
		for e := range async.Errors() {
			pr.metrics.observe(e.Msg.Topic, e.Err)
			e.Msg.Metadata.(pending).ch <- result{err: e.Err}
		}
	}()
	go func() { wg.Wait(); close(pr.done) }()
	return pr, nil
}

// Send produces r and waits for the broker's acknowledgement. If ctx
// ends first the record may still be written; the caller cannot know where.
func (p *Producer) Send(ctx context.Context, r Record) (Position, error) {
	wait, err := p.Start(ctx, r)
	if err != nil {
		return Position{}, err
	}
	return wait(ctx)
}

// Start enqueues r and returns at once; wait blocks until the broker
// acknowledged it (or ctx ends). Records started one after another from
// one goroutine reach each partition in that order: the producer keeps one
// request in flight and retries in order.
func (p *Producer) Start(ctx context.Context, r Record) (wait func(context.Context) (Position, error), err error) {
	ch, err := p.enqueue(ctx, r)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) (Position, error) {
		select {
		case res := <-ch:
			if res.err != nil {
				return Position{}, fmt.Errorf("kafka: produce to %s: %w", r.Topic, res.err)
			}
			return res.pos, nil
		case <-ctx.Done():
			return Position{}, ctx.Err()
		}
	}, nil
}

// SendAll produces records concurrently and waits for all of them; positions
// are in the order of records. On error it still waits for every record it
// enqueued (until ctx ends), so that when it returns nothing it sent is in
// flight, and reports the first error.
func (p *Producer) SendAll(ctx context.Context, records []Record) ([]Position, error) {
	chans := make([]chan result, 0, len(records))
	var first error
	for _, r := range records {
		ch, err := p.enqueue(ctx, r)
		if err != nil {
			first = err
			break
		}
		chans = append(chans, ch)
	}
	out := make([]Position, len(records))
	for i, ch := range chans {
		select {
		case res := <-ch:
			if res.err != nil && first == nil {
				first = fmt.Errorf("kafka: produce to %s: %w", records[i].Topic, res.err)
			}
			out[i] = res.pos
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if first != nil {
		return nil, first
	}
	return out, nil
}

func (p *Producer) enqueue(ctx context.Context, r Record) (chan result, error) {
	ch := make(chan result, 1)
	msg := &sarama.ProducerMessage{
		Topic:     r.Topic,
		Key:       sarama.StringEncoder(r.Key),
		Value:     sarama.ByteEncoder(r.Value),
		Headers:   r.Headers,
		Timestamp: r.Timestamp,
		Metadata:  pending{ch: ch, pinned: r.Pinned},
		Partition: r.Partition,
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return nil, eventfold.ErrClosed
	}
	select {
	case p.async.Input() <- msg:
		return ch, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Close flushes buffered records and closes the producer.
func (p *Producer) Close() error {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		p.async.AsyncClose()
	}
	p.mu.Unlock()
	<-p.done
	return nil
}
