package subscriber

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/eventfold/eventfold"
	"github.com/eventfold/eventfold/entity"
)

// Subscriber declares a side effect: which entity types it follows and the
// handler each event is delivered to.
type Subscriber struct {
	// Name identifies it in the group (<app>-sub-<name>), topic and metric
	// names: entity.NameRE. Required.
	Name string
	// Entities are the names of the entity types it follows. Required.
	Entities []string
	// Handler gets each delivery. Required, unless Sink is set.
	Handler Handler
	// Sink, instead of Handler, takes each partition's deliveries in the
	// partition's order, one Batch at a time, without waiting for them to
	// be done: a stage that forwards them elsewhere in order (a
	// projection's re-keying). Only with AtLeastOnce.
	Sink Sink
	// Mode is AtLeastOnce (default) or AtMostOnce.
	Mode Mode
	// Start is where a subscriber that has never run begins delivering:
	// FromBeginning (default) or FromNow. Either way the state in each
	// delivery is the fold of the key's whole history.
	Start Start
	// Concurrency is how many keys are handled at once on a node;
	// default 8. Events of one key are always handled one after another.
	Concurrency int
	// MaxAttempts is how often a delivery is tried before it goes to the
	// subscriber's dead-letter topic; default 5.
	MaxAttempts int
	// Backoff is the wait before the first retry; it doubles up to
	// MaxBackoff. Defaults 200ms and 30s. A handler error made with
	// RetryAfter sets the wait instead.
	Backoff, MaxBackoff time.Duration
	// Timeout bounds one attempt (the handler's context); default 30s.
	Timeout time.Duration
}

// Mode is when a delivery's offset is committed.
type Mode int

const (
	// AtLeastOnce commits an offset only once every delivery below it is
	// done (handled or dead-lettered): after a crash, deliveries in flight
	// are delivered again.
	AtLeastOnce Mode = iota
	// AtMostOnce commits before handling: after a crash, deliveries in
	// flight are lost, never repeated.
	AtMostOnce
)

func (m Mode) String() string {
	if m == AtMostOnce {
		return "at-most-once"
	}
	return "at-least-once"
}

// Start is where a new subscriber begins delivering.
type Start int

const (
	// FromBeginning delivers every event in the topics.
	FromBeginning Start = iota
	// FromNow delivers events appended after the subscriber first ran.
	FromNow
)

func (s Start) String() string {
	if s == FromNow {
		return "now"
	}
	return "beginning"
}

// Sink takes a Batch and calls done once its deliveries are durable
// elsewhere; a batch not done is handed over again after a restart or a
// rebalance (at least once), in the same order and with the same Offset.
// Sink is called from the partition's goroutine, in the partition's order,
// and must not wait for the batch; it may call done from any goroutine.
type Sink func(b Batch, done func())

// Batch is what one event of a partition released: its own delivery, or
// a command's deliveries once the command ended (the event that ended it
// comes last).
type Batch struct {
	Entity    string
	Partition int32
	// Offset is the offset of the event that released the batch: it grows
	// from batch to batch of a partition, and a batch handed over again
	// has the same one.
	Offset     int64
	Deliveries []Delivery
	// Leaving is closed when the partition is being taken away: a batch
	// not yet durable will be handed over again to the next owner.
	Leaving <-chan struct{}
}

// Handler handles one delivery. An error means "try again" (after the
// backoff, up to MaxAttempts); a handler must tolerate seeing a delivery
// again (docs/subscribers.md, "Idempotent handlers").
type Handler interface {
	Handle(ctx context.Context, d Delivery) error
}

// HandlerFunc is a Handler.
type HandlerFunc func(ctx context.Context, d Delivery) error

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, d Delivery) error { return f(ctx, d) }

// RetryAfter wraps err so that the next attempt waits d (a webhook's
// Retry-After) instead of the backoff.
func RetryAfter(err error, d time.Duration) error { return &retryAfterError{err: err, after: d} }

type retryAfterError struct {
	err   error
	after time.Duration
}

func (e *retryAfterError) Error() string { return e.err.Error() }
func (e *retryAfterError) Unwrap() error { return e.err }

// Permanent wraps err so that the delivery goes to the dead-letter topic
// at once: retrying cannot help (a 4xx from a webhook).
func Permanent(err error) error { return &permanentError{err} }

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

func (s Subscriber) withDefaults() Subscriber {
	if s.Concurrency == 0 {
		s.Concurrency = 8
	}
	if s.MaxAttempts == 0 {
		s.MaxAttempts = 5
	}
	if s.Backoff == 0 {
		s.Backoff = 200 * time.Millisecond
	}
	if s.MaxBackoff == 0 {
		s.MaxBackoff = 30 * time.Second
	}
	if s.Timeout == 0 {
		s.Timeout = 30 * time.Second
	}
	return s
}

// validate checks s against the entity types the node knows.
func (s Subscriber) validate(types map[string]*entity.Type) error {
	var errs []error
	if !entity.NameRE.MatchString(s.Name) {
		errs = append(errs, fmt.Errorf("name %q must match %s", s.Name, entity.NameRE))
	}
	if len(s.Entities) == 0 {
		errs = append(errs, errors.New("follows no entity type"))
	}
	seen := map[string]bool{}
	for _, e := range s.Entities {
		if _, ok := types[e]; !ok {
			errs = append(errs, fmt.Errorf("follows %q, which is not an entity type of this node", e))
		}
		if seen[e] {
			errs = append(errs, fmt.Errorf("follows %q twice", e))
		}
		seen[e] = true
	}
	switch {
	case s.Handler == nil && s.Sink == nil:
		errs = append(errs, errors.New("has no Handler"))
	case s.Handler != nil && s.Sink != nil:
		errs = append(errs, errors.New("has both a Handler and a Sink"))
	case s.Sink != nil && s.Mode != AtLeastOnce:
		errs = append(errs, errors.New("a Sink is at least once"))
	}
	if s.Mode != AtLeastOnce && s.Mode != AtMostOnce {
		errs = append(errs, fmt.Errorf("mode %d is not AtLeastOnce or AtMostOnce", s.Mode))
	}
	if s.Start != FromBeginning && s.Start != FromNow {
		errs = append(errs, fmt.Errorf("start %d is not FromBeginning or FromNow", s.Start))
	}
	if s.Concurrency < 1 || s.Concurrency > 4096 {
		errs = append(errs, fmt.Errorf("concurrency %d, want 1..4096", s.Concurrency))
	}
	if s.MaxAttempts < 1 || s.MaxAttempts > 1000 {
		errs = append(errs, fmt.Errorf("max attempts %d, want 1..1000", s.MaxAttempts))
	}
	if s.Backoff < 0 || s.MaxBackoff < s.Backoff || s.Timeout < 0 {
		errs = append(errs, fmt.Errorf("backoff %v, max backoff %v, timeout %v: want 0 <= backoff <= max backoff, timeout >= 0", s.Backoff, s.MaxBackoff, s.Timeout))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("subscriber %q: %w: %w", s.Name, eventfold.ErrInvalid, err)
	}
	return nil
}
