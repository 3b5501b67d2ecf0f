package processor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/IBM/sarama"
)

// goka marks a message's offset as soon as that message's own writes are
// acknowledged, and sarama keeps the highest mark. A message that finishes
// early (a dead letter, a redelivery skipped) can therefore commit past an
// earlier message whose changelog write is still in flight; a crash then
// loses that write for good. orderedGroup wraps the consumer group so that an
// offset is committed only when every message before it on the partition is
// done: what is committed is a prefix of what was applied.
type orderedGroup struct {
	sarama.ConsumerGroup
	// observe, if set, sees each delivered offset with the partition's
	// high-water mark (for lag metrics).
	observe func(partition int32, offset, hwm int64)
	// onClaim, if set, learns where each claimed partition starts.
	onClaim func(partition int32, next int64)
	// fatal, if set, returns a write error no retry can mend: the group
	// then stops with it instead of rejoining.
	fatal  func() error
	logger *slog.Logger
}

// Consume runs sessions back to back until ctx ends, joining fails for
// good, or joining keeps failing for rejoinTimeout. goka sleeps 5 s after
// every session before it rejoins, and the whole group waits for the
// sleeper; looping here makes a rebalance cost what Kafka needs. goka also
// stops the processor on any error from a join, and a broker failover
// produces such errors (the group coordinator's broker refuses connections
// until Kafka moves the coordinator): those are retried here.
func (g orderedGroup) Consume(ctx context.Context, topics []string, h sarama.ConsumerGroupHandler) error {
	oh := &orderedHandler{inner: h, observe: g.observe, onClaim: g.onClaim}
	var failingSince time.Time
	backoff := rejoinBackoff
	for {
		start := time.Now()
		err := g.ConsumerGroup.Consume(ctx, topics, oh)
		if ctx.Err() != nil {
			return nil
		}
		if g.fatal != nil {
			if ferr := g.fatal(); ferr != nil {
				return fmt.Errorf("a write can never succeed, not rejoining: %w", ferr)
			}
		}
		wait := time.Duration(0)
		switch {
		case err == nil:
			failingSince, backoff = time.Time{}, rejoinBackoff
			// A session that ends at once (a failing partition) must not spin.
			if time.Since(start) < time.Second {
				wait = 500 * time.Millisecond
			}
		case !transientGroupErr(err):
			return err
		default:
			if failingSince.IsZero() {
				failingSince = start
			}
			if time.Since(failingSince) > rejoinTimeout {
				return fmt.Errorf("consumer group failing for %v: %w", time.Since(failingSince).Round(time.Second), err)
			}
			if g.logger != nil {
				g.logger.Warn("consumer group session failed; rejoining", slog.Any("error", err), slog.Duration("backoff", backoff))
			}
			wait, backoff = backoff, min(2*backoff, maxRejoinBackoff)
		}
		if wait > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(wait):
			}
		}
	}
}

// Close leaves the group. sarama hands back, from Close, the errors its
// sessions reported (a partition whose write failed and was retried in the
// next session, here); Consume has dealt with each of them already, and
// a permanent one ended Consume with an error. They are logged, not
// returned: a clean shutdown after a recovered failure is a clean shutdown.
func (g orderedGroup) Close() error {
	if err := g.ConsumerGroup.Close(); err != nil && g.logger != nil {
		g.logger.Warn("consumer group closed; errors its sessions reported before", slog.Any("error", err))
	}
	return nil
}

const (
	rejoinBackoff    = 250 * time.Millisecond
	maxRejoinBackoff = 5 * time.Second
	// rejoinTimeout bounds how long a node keeps trying to rejoin
	// before it stops with the error: long enough for a broker failover or
	// a rolling broker restart, short enough that a node cut off from Kafka
	// does not pretend to be alive forever (its /readyz says not ready
	// meanwhile).
	rejoinTimeout = 5 * time.Minute
)

// transientGroupErr reports whether a failed session may succeed when
// retried: everything but a closed group and errors that say the
// configuration or the permissions are wrong.
func transientGroupErr(err error) bool {
	for _, permanent := range []error{
		sarama.ErrClosedConsumerGroup,
		sarama.ErrClosedClient,
		sarama.ErrInvalidSessionTimeout,
		sarama.ErrGroupAuthorizationFailed,
		sarama.ErrTopicAuthorizationFailed,
		sarama.ErrClusterAuthorizationFailed,
		sarama.ErrSASLAuthenticationFailed,
		sarama.ErrInconsistentGroupProtocol,
		sarama.ErrInvalidGroupId,
		sarama.ErrUnsupportedVersion,
		sarama.ErrGroupMaxSizeReached,
		sarama.ErrFencedInstancedId,
	} {
		if errors.Is(err, permanent) {
			return false
		}
	}
	return true
}

type orderedHandler struct {
	inner   sarama.ConsumerGroupHandler
	observe func(partition int32, offset, hwm int64)
	onClaim func(partition int32, next int64)
	mu      sync.Mutex
	sess    *orderedSession
}

func (h *orderedHandler) session(s sarama.ConsumerGroupSession) *orderedSession {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sess == nil || h.sess.ConsumerGroupSession != s {
		h.sess = &orderedSession{ConsumerGroupSession: s, trackers: map[topicPartition]*offsetTracker{}}
	}
	return h.sess
}

func (h *orderedHandler) Setup(s sarama.ConsumerGroupSession) error {
	return h.inner.Setup(h.session(s))
}

func (h *orderedHandler) Cleanup(s sarama.ConsumerGroupSession) error {
	return h.inner.Cleanup(h.session(s))
}

func (h *orderedHandler) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	sess := h.session(s)
	tr := sess.tracker(claim.Topic(), claim.Partition())
	if h.onClaim != nil {
		h.onClaim(claim.Partition(), claim.InitialOffset())
	}
	// Buffered like sarama's own claim channel: a hand-off per message
	// through an unbuffered channel costs two goroutine switches per event.
	out := make(chan *sarama.ConsumerMessage, relayBuffer)
	done := make(chan struct{})
	// The relay owns out: it records each offset before goka can see (and
	// finish) the message, and it exits when the claim ends or goka stops
	// reading. Messages left in the buffer were delivered but never
	// finished, so nothing after them is committed.
	go func() {
		defer close(out)
		for m := range claim.Messages() {
			tr.delivered(m.Offset)
			if h.observe != nil {
				h.observe(m.Partition, m.Offset, claim.HighWaterMarkOffset())
			}
			select {
			case out <- m:
			case <-done:
				return
			case <-s.Context().Done():
				return
			}
		}
	}()
	defer close(done)
	return h.inner.ConsumeClaim(sess, &relayedClaim{ConsumerGroupClaim: claim, messages: out})
}

const relayBuffer = 256

type relayedClaim struct {
	sarama.ConsumerGroupClaim
	messages chan *sarama.ConsumerMessage
}

func (c *relayedClaim) Messages() <-chan *sarama.ConsumerMessage { return c.messages }

type topicPartition struct {
	topic     string
	partition int32
}

type orderedSession struct {
	sarama.ConsumerGroupSession
	mu       sync.Mutex
	trackers map[topicPartition]*offsetTracker
}

func (s *orderedSession) tracker(topic string, partition int32) *offsetTracker {
	s.mu.Lock()
	defer s.mu.Unlock()
	tp := topicPartition{topic, partition}
	t, ok := s.trackers[tp]
	if !ok {
		t = &offsetTracker{done: map[int64]bool{}}
		s.trackers[tp] = t
	}
	return t
}

// MarkOffset is called by goka with the offset after a finished message.
func (s *orderedSession) MarkOffset(topic string, partition int32, offset int64, metadata string) {
	if next, ok := s.tracker(topic, partition).finished(offset - 1); ok {
		s.ConsumerGroupSession.MarkOffset(topic, partition, next, metadata)
	}
}

func (s *orderedSession) MarkMessage(msg *sarama.ConsumerMessage, metadata string) {
	s.MarkOffset(msg.Topic, msg.Partition, msg.Offset+1, metadata)
}

// offsetTracker holds the offsets delivered but not yet committable, in
// delivery (= offset) order.
type offsetTracker struct {
	mu      sync.Mutex
	pending []int64 // delivered, in order; pending[head:] are not yet committed
	head    int
	done    map[int64]bool
}

func (t *offsetTracker) delivered(offset int64) {
	t.mu.Lock()
	t.pending = append(t.pending, offset)
	t.mu.Unlock()
}

// finished records offset as done and returns the next offset to commit if
// the committable prefix grew.
func (t *offsetTracker) finished(offset int64) (int64, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.done[offset] = true
	var next int64
	grew := false
	for t.head < len(t.pending) && t.done[t.pending[t.head]] {
		delete(t.done, t.pending[t.head])
		next = t.pending[t.head] + 1
		t.head++
		grew = true
	}
	if t.head > 1024 && t.head*2 > len(t.pending) {
		t.pending = append(t.pending[:0], t.pending[t.head:]...)
		t.head = 0
	}
	return next, grew
}
