package subscriber

import (
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"

	"github.com/eventfold/eventfold/entity"
	"github.com/eventfold/eventfold/limits"
	"github.com/eventfold/eventfold/processor"
)

// readAhead bounds, at most once, the deliveries of a partition committed
// and not yet handled: what a crash can lose.
func (c *claim) readAhead() int { return max(2*c.s.s.Concurrency, 16) }

// claim delivers one partition of one followed entity type's events.
//
// The claim goroutine reads the partition in order, folds each event onto
// the key's envelope (processor.Refold: the fold's own code) and queues
// the resulting deliveries per key; a worker per busy key hands them to
// the handler one after another. The key's envelope is "acked" once its
// deliveries are done, and the acked envelopes go to the subscriber's
// state topic before the offset below them is committed: after a crash the
// next owner restores them, skips what they have seen (delivered) and folds
// the rest onto them, so every delivery carries the exact state.
type claim struct {
	s         *sub
	typ       *entity.Type
	refold    *processor.Refold
	topic     string
	partition int32
	state     string // the state topic
	sess      sarama.ConsumerGroupSession
	cl        sarama.ConsumerGroupClaim
	log       *slog.Logger

	// Read and written by the claim goroutine only.
	head        map[string][]byte // the fold's envelope per key
	held        map[string][]held // events waiting for a pending command to end
	deliverFrom int64             // events below are folded, not delivered (Start FromNow)

	win      *window
	progress chan struct{} // a worker finished an item
	queued   atomic.Int64  // items enqueued and not finished
	stop     chan struct{} // closed when the partition is leaving: start no other attempt

	mu     sync.Mutex
	acked  map[string][]byte // envelope per key as of its done deliveries
	dirty  map[string]bool   // acked and not yet in the state topic
	queues map[string]*keyQueue
	sinkQ  []*sinkItem // a Sink's items not yet completed, in the partition's order

	hctx    context.Context // handlers' context: outlives the session by drainTimeout
	workers sync.WaitGroup
}

// held is an event of a key with a pending command: it is delivered once
// the command is applied or given up, in order.
type held struct {
	rec  processor.Record
	step processor.Step
}

type item struct {
	key        string
	at         int64 // the offset of the event that released it
	deliveries []Delivery
	finish     []int64 // offsets done with the item
	ack        []byte  // the key's envelope once done; nil keeps the last
}

type keyQueue struct {
	items   []item
	running bool
}

func (c *claim) run() error {
	ctx := c.sess.Context()
	if err := c.restore(ctx); err != nil {
		return err
	}
	hctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c.hctx = hctx
	c.win = newWindow(c.cl.InitialOffset())
	c.progress = make(chan struct{}, 1)
	c.stop = make(chan struct{})
	c.s.setLag(c.typ.Name(), c.partition, 0) // listed from the start

	flushEvery := time.NewTicker(c.s.r.cfg.commitInterval)
	defer flushEvery.Stop()
	msgs := c.messages()
	var ready []item // at-most-once: deliveries waiting for their commit
read:
	for {
		if c.win.open() >= limits.SubscriberOpenEvents || (c.s.s.Mode == AtMostOnce && int(c.queued.Load()) >= c.readAhead()) {
			select {
			case <-c.progress:
			case <-flushEvery.C:
				c.flush(ctx)
			case <-ctx.Done():
				break read
			}
			continue
		}
		select {
		case m, ok := <-msgs:
			if !ok {
				break read
			}
			its, err := c.read(ctx, m)
			if err != nil {
				break read // the session ends; the event is read again
			}
			if c.s.s.Mode == AtMostOnce {
				ready = append(ready, its...)
				if len(msgs) == 0 || len(ready)+int(c.queued.Load()) >= c.readAhead() {
					if c.flush(ctx) {
						c.sess.Commit()
						for _, it := range ready {
							c.enqueue(it)
						}
						ready = ready[:0]
					} else {
						break read
					}
				}
				continue
			}
			for _, it := range its {
				c.enqueue(it)
			}
		case <-flushEvery.C:
			c.flush(ctx)
		case <-ctx.Done():
			break read
		}
	}
	c.drain()
	cancel()
	c.workers.Wait()
	// The session may be over: the last marks are committed by sarama when
	// it ends, and written state is ahead of them, which is safe.
	c.flush(context.Background())
	return nil
}

// messages is the claim's channel. A paused subscriber's partitions are
// read as far as limits.SubscriberOpenEvents allows and no further.
func (c *claim) messages() <-chan *sarama.ConsumerMessage { return c.cl.Messages() }

// drain lets the items being handled finish (up to the drain timeout)
// and starts no other: those are the next owner's, which delivers them
// from the committed offset. Cutting a delivery off in the middle would
// have it delivered twice.
func (c *claim) drain() {
	close(c.stop)
	deadline := time.NewTimer(c.s.r.cfg.drainTimeout)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		busy := len(c.queues)
		c.mu.Unlock()
		if c.s.s.Sink != nil {
			busy = int(c.queued.Load()) // batches the sink has not called done for
		}
		if busy == 0 {
			return
		}
		select {
		case <-c.progress:
		case <-deadline.C:
			c.log.Warn("subscriber partition given up with deliveries in flight; the next owner delivers them again",
				slog.Int("keys", busy))
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// read folds one event and returns the items it makes ready. An error
// means the session ended before the event could be folded.
func (c *claim) read(ctx context.Context, m *sarama.ConsumerMessage) ([]item, error) {
	rec := processor.Record{Key: string(m.Key), Value: m.Value, Partition: m.Partition, Offset: m.Offset, Timestamp: m.Timestamp}
	if len(m.Headers) > 0 {
		rec.Headers = make(map[string][]byte, len(m.Headers))
		for _, h := range m.Headers {
			if h != nil {
				rec.Headers[string(h.Key)] = h.Value
			}
		}
	}
	c.win.add(m.Offset)
	step, err := c.fold(ctx, rec)
	if err != nil {
		return nil, err
	}
	key := rec.Key
	if step.Outcome == processor.Seen {
		// Delivered before (its envelope was acked), or skipped by the
		// fold as a redelivery.
		c.win.finish(m.Offset)
		return nil, nil
	}
	if step.Envelope != nil {
		c.head[key] = step.Envelope
	}
	amo := c.s.s.Mode == AtMostOnce
	if amo {
		// Committed before handling: the state goes with the commit.
		c.win.finish(m.Offset)
		c.setAcked(key, c.head[key])
	}
	h := c.held[key]
	if step.Aborted == "" && step.Outcome != processor.Committed && len(h) > 0 && step.PendingID != "" {
		// The pending command goes on (its next event, or an event the
		// command rule rejected): wait behind it.
		c.held[key] = append(h, held{rec, step})
		return nil, nil
	}
	var it item
	it.key, it.at = key, m.Offset
	included := false
	if len(h) > 0 {
		delete(c.held, key)
		it.deliveries, included = c.resolve(h, rec, step)
		for _, e := range h {
			it.finish = append(it.finish, e.rec.Offset)
		}
	}
	if step.Outcome == processor.Pending {
		// A command begins (and may have ended another): this event waits.
		c.held[key] = []held{{rec, step}}
	} else {
		if !included {
			applied := step.Outcome == processor.Applied || step.Outcome == processor.Committed
			it.deliveries = append(it.deliveries, c.delivery(rec, step, applied, step.Before, step.BeforeExists, step.State, step.Exists, step.Version))
		}
		it.finish = append(it.finish, m.Offset)
		if step.PendingID == "" {
			it.ack = c.head[key]
		}
	}
	if amo {
		it.finish, it.ack = nil, nil
	}
	if m.Offset < c.deliverFrom {
		it.deliveries = nil
	}
	if len(it.deliveries) == 0 && len(it.finish) == 0 && it.ack == nil {
		return nil, nil
	}
	return []item{it}, nil
}

// resolve turns the held events of a key into deliveries once step ended
// its pending command: committed (the command's events applied, each with
// the state after it) or aborted (none applied). included says whether the
// deliveries end with rec's own (it committed the command).
func (c *claim) resolve(h []held, rec processor.Record, step processor.Step) (_ []Delivery, included bool) {
	cmd := h[0].step.PendingID
	committed := step.Outcome == processor.Committed && step.Command == cmd
	// The command's events: those held with its id, in order, and the
	// last one when it committed.
	var events []processor.Record
	for _, e := range h {
		if e.step.Outcome == processor.Pending && e.step.Command == cmd {
			events = append(events, e.rec)
		}
	}
	base, baseExists, baseVersion := h[0].step.Before, h[0].step.BeforeExists, h[0].step.BeforeVersion
	states := make([][]byte, 0, len(events)+1)
	if committed {
		n := int(step.Version - baseVersion)
		if n == len(events)+1 {
			s, exists := base, baseExists
			for _, r := range events {
				var err error
				if s, _, err = c.typ.Apply(s, exists, r.Value); err != nil {
					// The fold applied it a moment ago; this cannot fail.
					c.log.Error("refolding a committed command's event failed", slog.String("event_id", c.eventID(r.Offset)), slog.Any("error", err))
					break
				}
				exists = true
				states = append(states, s)
			}
		}
		if len(states) != len(events) {
			// At most once, after a restart: the command's earlier events
			// were committed before this node read them; only its last
			// event can be delivered with a known state.
			c.log.Warn("command's earlier events lost to an at-most-once restart; delivering its last event only",
				slog.String("command_id", cmd), slog.String("event_id", c.eventID(rec.Offset)))
		}
	}
	var out []Delivery
	i := 0
	for _, e := range h {
		mine := e.step.Outcome == processor.Pending && e.step.Command == cmd
		switch {
		case mine && committed && len(states) == len(events):
			before, beforeExists := base, baseExists
			if i > 0 {
				before, beforeExists = states[i-1], true
			}
			out = append(out, c.delivery(e.rec, e.step, true, before, beforeExists, states[i], true, baseVersion+uint64(i)+1))
			i++
		case mine && committed:
			// Lost (see above).
		case mine:
			d := c.delivery(e.rec, e.step, false, base, baseExists, base, baseExists, baseVersion)
			d.Reason = string(entity.ReasonCommand)
			out = append(out, d)
		default:
			// Rejected while the command was pending: the applied state
			// was the one before the command.
			out = append(out, c.delivery(e.rec, e.step, false, base, baseExists, base, baseExists, baseVersion))
		}
	}
	if committed {
		before, beforeExists := base, baseExists
		if n := len(states); n > 0 && n == len(events) {
			before, beforeExists = states[n-1], true
		}
		out = append(out, c.delivery(rec, step, true, before, beforeExists, step.State, step.Exists, step.Version))
	}
	return out, committed
}

// fold runs the refold on rec, retrying fetches it needs (a pending
// command's earlier events after a restart) until the session ends.
func (c *claim) fold(ctx context.Context, rec processor.Record) (processor.Step, error) {
	wait := 100 * time.Millisecond
	for {
		step, err := c.refold.Step(ctx, c.head[rec.Key], rec)
		if err == nil {
			return step, nil
		}
		c.log.Warn("subscriber fold failed; retrying", slog.String("event_id", c.eventID(rec.Offset)), slog.Any("error", err))
		select {
		case <-ctx.Done():
			return step, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

func (c *claim) delivery(rec processor.Record, step processor.Step, applied bool, before []byte, beforeExists bool, state []byte, exists bool, version uint64) Delivery {
	d := Delivery{
		Subscriber: c.s.s.Name,
		Entity:     c.typ.Name(),
		ID:         rec.Key,
		EventID:    c.eventID(rec.Offset),
		Event:      json.RawMessage(rec.Value),
		Applied:    applied,
		Version:    version,
		CommandID:  step.Command,
		Type:       step.EventType,
		Partition:  rec.Partition,
		Offset:     rec.Offset,
		Timestamp:  rec.Timestamp,
		rawState:   state,
		exists:     exists,
		rawBefore:  before,
		hadBefore:  beforeExists,
		topic:      c.topic,
	}
	if !applied {
		d.Reason = string(step.Reason)
	}
	if exists {
		if js, err := c.typ.StateJSON(state); err == nil {
			d.State = js
		}
	}
	return d
}

func (c *claim) eventID(offset int64) string {
	return c.topic + "/" + strconv.Itoa(int(c.partition)) + "/" + strconv.FormatInt(offset, 10)
}

func (c *claim) setAcked(key string, env []byte) {
	c.mu.Lock()
	c.ackLocked(key, env)
	c.mu.Unlock()
}

// ackLocked keeps env as key's acked envelope (nil keeps the last); c.mu
// is held.
func (c *claim) ackLocked(key string, env []byte) {
	if env != nil {
		c.acked[key] = env
		c.dirty[key] = true
	}
}

// enqueue queues it behind the key's earlier items; an item with nothing
// to deliver and nothing before it is done at once.
func (c *claim) enqueue(it item) {
	if c.s.s.Sink != nil {
		c.sink(it)
		return
	}
	c.mu.Lock()
	q := c.queues[it.key]
	if q == nil && len(it.deliveries) == 0 {
		c.mu.Unlock()
		c.complete(it)
		return
	}
	if q == nil {
		q = &keyQueue{}
		c.queues[it.key] = q
	}
	q.items = append(q.items, it)
	c.addQueued(1)
	start := !q.running
	q.running = true
	c.mu.Unlock()
	if start {
		c.workers.Add(1)
		go c.work(it.key)
	}
}

// sink hands it to the subscriber's Sink, in the partition's order. The
// sink says done in any order (each batch's acknowledgements are waited
// for on their own); items are completed in the partition's order all the
// same, so a key's acked envelope is never set back to an older one (the
// state a restart would restore from).
func (c *claim) sink(it item) {
	si := &sinkItem{it: it, done: len(it.deliveries) == 0}
	c.mu.Lock()
	c.sinkQ = append(c.sinkQ, si)
	c.mu.Unlock()
	c.addQueued(1)
	if si.done {
		c.sinkDone(si)
		return
	}
	var once sync.Once
	c.s.s.Sink(Batch{Entity: c.typ.Name(), Partition: c.partition, Offset: it.at, Deliveries: it.deliveries, Leaving: c.stop}, func() {
		once.Do(func() { c.sinkDone(si) })
	})
}

// sinkItem is an item handed to the sink, and whether it said done.
type sinkItem struct {
	it   item
	done bool
}

// sinkDone marks si done and completes, in order, the items at the head of
// the queue that are done. The acked envelopes are set under the lock that
// orders them.
func (c *claim) sinkDone(si *sinkItem) {
	c.mu.Lock()
	si.done = true
	var finished []int64
	n := 0
	for len(c.sinkQ) > 0 && c.sinkQ[0].done {
		it := c.sinkQ[0].it
		c.sinkQ = c.sinkQ[1:]
		c.ackLocked(it.key, it.ack)
		finished = append(finished, it.finish...)
		n++
	}
	c.mu.Unlock()
	if n == 0 {
		return
	}
	c.addQueued(-int64(n))
	c.win.finish(finished...)
	c.signal()
}

// work hands a key's queued items to the handler until the queue is empty.
func (c *claim) work(key string) {
	defer c.workers.Done()
	for {
		c.mu.Lock()
		q := c.queues[key]
		if len(q.items) == 0 {
			delete(c.queues, key)
			c.mu.Unlock()
			c.signal()
			return
		}
		if c.leaving() {
			// Left to the next owner, with the rest of the key's queue.
			c.addQueued(-int64(len(q.items)))
			delete(c.queues, key)
			c.mu.Unlock()
			c.signal()
			return
		}
		it := q.items[0]
		q.items = q.items[1:]
		c.mu.Unlock()
		if !c.handle(it) {
			// Given up (the partition is leaving): the rest is not done
			// either and is delivered by the next owner.
			c.mu.Lock()
			c.addQueued(-int64(len(q.items) + 1))
			delete(c.queues, key)
			c.mu.Unlock()
			c.signal()
			return
		}
		c.addQueued(-1)
		c.complete(it)
	}
}

func (c *claim) leaving() bool {
	select {
	case <-c.stop:
		return true
	default:
		return false
	}
}

func (c *claim) addQueued(n int64) {
	c.queued.Add(n)
	c.s.r.metrics.inFlight.WithLabelValues(c.s.s.Name).Add(float64(n))
}

func (c *claim) complete(it item) {
	c.setAcked(it.key, it.ack)
	c.win.finish(it.finish...)
	c.signal()
}

func (c *claim) signal() {
	select {
	case c.progress <- struct{}{}:
	default:
	}
}

// handle delivers an item's deliveries in order; false means the handlers'
// context ended first.
func (c *claim) handle(it item) bool {
	for _, d := range it.deliveries {
		if !c.s.deliver(c.hctx, c.stop, d) {
			return false
		}
	}
	return true
}
