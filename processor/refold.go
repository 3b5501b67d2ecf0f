package processor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/lovoo/goka"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventfold/eventfold"
	"github.com/eventfold/eventfold/entity"
	"github.com/eventfold/eventfold/table"
)

// Refold runs the fold of one entity type outside a goka group, on
// envelopes its caller keeps: the very code the processor runs, so the
// same events give the same decisions (applied or not, the version, the
// state). Subscribers use it to know the state right after each event
// without asking the owner.
//
// It writes nothing to Kafka: dead letters are the processor's to write
// (Step reports the reason instead), and it keeps no history index. The
// one decision that can differ is an event the processor rejects as
// state_too_large because the history index takes the envelope over its
// limit: the refold's envelope has no index, so it judges by the state
// alone (an entity within a few KB of limits.EnvelopeBytes).
type Refold struct {
	rt *entityRuntime
}

// Outcome is what the fold did with one event.
type Outcome int

const (
	// Applied: the event changed the state.
	Applied Outcome = iota
	// Rejected: not applied (it does not decode or apply, or the command
	// rule refused it); a pending command it cut short is aborted.
	Rejected
	// Pending: folded aside as part of an unfinished command.
	Pending
	// Committed: the last event of a command; the command applied.
	Committed
	// Seen: at or below the key's last folded offset (a redelivery).
	Seen
)

func (o Outcome) String() string {
	return [...]string{"applied", "rejected", "pending", "committed", "seen"}[o]
}

// NewRefold builds the fold of one entity type. brokers are where a
// pending command's earlier events are fetched again when they are not in
// memory (after a restart); settings give the topic prefix-free names and
// the Kafka configuration.
func NewRefold(brokers []string, t *entity.Type, opts ...Option) (*Refold, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o.apply(&cfg)
	}
	cfg.Settings = cfg.Settings.WithDefaults()
	// Decisions must not depend on who logs or counts them.
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.Registerer = prometheus.NewRegistry()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("processor: refold: %w: %w", eventfold.ErrInvalid, err)
	}
	m, err := newMetrics(cfg.Registry())
	if err != nil {
		return nil, err
	}
	p := &Processor{brokers: brokers, cfg: cfg, metrics: m, byName: map[string]*entityRuntime{}, started: make(chan struct{})}
	rt := &entityRuntime{
		p:           p,
		typ:         t,
		refold:      true,
		stores:      table.NewSet(),
		progress:    newProgress(),
		assigned:    map[int32]bool{},
		lag:         map[int32]int64{},
		skipped:     m.skipped.WithLabelValues(t.Name()),
		foldSeconds: m.foldSeconds.WithLabelValues(t.Name()),
	}
	return &Refold{rt: rt}, nil
}

// Close releases the connection made to fetch pending commands again.
func (r *Refold) Close() { r.rt.p.closeClients() }

// Record is one event as the refold needs it.
type Record struct {
	Key       string
	Value     []byte
	Headers   map[string][]byte
	Partition int32
	Offset    int64
	Timestamp time.Time
}

// Step is what one event did.
type Step struct {
	Outcome Outcome
	// Envelope is the key's envelope after the event, to keep for its next
	// event; nil when there is nothing to keep (a key that never applied
	// anything). Equal to stored for Seen.
	Envelope []byte
	// State is the state the fold now holds for the key: the new state of
	// Applied and Committed, the folded-aside state of Pending, the
	// unchanged state of Rejected. Exists is false before the key's first
	// applied event.
	State  []byte
	Exists bool
	// Version counts the applied events, as in the table.
	Version uint64
	// EventType is the decoded event's type ("" if it does not decode).
	EventType string
	// Reason and Err say why a Rejected event was not applied.
	Reason entity.Reason
	Err    error
	// Aborted is the id of a pending command this event cut short, whose
	// folded-aside events are therefore not applied.
	Aborted string
	// Command is the id of the command the event belongs to, if any.
	Command string
	// PendingID is the command left pending after the event ("" none).
	PendingID string
	// Before is the key's applied state before the event (what a command
	// that commits with it started from).
	Before        []byte
	BeforeExists  bool
	BeforeVersion uint64
}

// ErrRefold is a fetch the refold needed and could not make (a pending
// command's earlier events); the step should be retried.
var ErrRefold = errors.New("refold failed")

// Step folds rec onto stored (the key's envelope after its previous event,
// nil for a new key).
func (r *Refold) Step(ctx context.Context, stored []byte, rec Record) (Step, error) {
	c := &refoldCtx{ctx: ctx, rec: rec}
	if stored != nil {
		c.value = stored
	}
	before := table.Envelope{Seen: -1}
	if stored != nil {
		if err := before.UnmarshalBinary(stored); err != nil {
			return Step{}, fmt.Errorf("processor: refold %s key %q: stored envelope: %w", r.rt.typ.Name(), rec.Key, err)
		}
		if rec.Offset <= before.Seen {
			st := Step{Outcome: Seen, Envelope: stored, State: before.State, Exists: before.Version > 0, Version: before.Version}
			if before.Pending != nil {
				st.PendingID = before.Pending.ID
			}
			return st, nil
		}
	}
	if !r.rt.foldEvent(c, rec.Value) {
		return Step{}, fmt.Errorf("%w: %s partition %d offset %d: %w", ErrRefold, r.rt.typ.Name(), rec.Partition, rec.Offset, c.failed)
	}
	st := Step{Outcome: Applied, Envelope: c.written, EventType: c.eventType, Reason: c.reason, Err: c.rejection}
	if st.EventType == "" {
		// Not decoded by the fold (the command rule refused it first) or
		// not decodable: decode it here for the type alone.
		st.EventType, _ = r.rt.typ.CheckEvent(rec.Value)
	}
	if _, ok := rec.Headers[HeaderCommandID]; ok {
		st.Command = string(rec.Headers[HeaderCommandID])
	}
	env := before
	if c.written != nil {
		env = table.Envelope{}
		_ = env.UnmarshalBinary(c.written) // the fold encoded it a moment ago
	} else {
		st.Envelope = stored
	}
	st.State, st.Exists, st.Version = env.State, env.Version > 0, env.Version
	st.Before, st.BeforeExists, st.BeforeVersion = before.State, before.Version > 0, before.Version
	if env.Pending != nil {
		st.PendingID = env.Pending.ID
	}
	switch {
	case env.Version > before.Version:
		if st.Command != "" {
			st.Outcome = Committed
		}
	case env.Pending != nil && env.Pending.Offset == rec.Offset:
		st.Outcome = Pending
		if s, ok := r.rt.pending.get(rec.Partition, rec.Key, env.Pending.ID, rec.Offset); ok {
			st.State, st.Exists = s, true
		}
	default:
		st.Outcome = Rejected
	}
	if before.Pending != nil && (env.Pending == nil || env.Pending.ID != before.Pending.ID) && st.Outcome != Committed {
		st.Aborted = before.Pending.ID
	}
	if st.Outcome == Rejected && st.Reason == "" {
		st.Reason = entity.ReasonCommand
	}
	return st, nil
}

// refoldCtx is the part of goka.Context the fold uses, for events that do
// not come through goka. The embedded nil Context makes any other method
// fail loudly: the fold must not use it.
type refoldCtx struct {
	gokaContext // nil
	ctx         context.Context
	rec         Record
	stored      []byte
	value       any
	written     []byte
	failed      error

	eventType string
	reason    entity.Reason
	rejection error
}

// gokaContext names the embedded interface apart from the Context method.
type gokaContext = goka.Context

func (c *refoldCtx) Context() context.Context                { return c.ctx }
func (c *refoldCtx) Key() string                             { return c.rec.Key }
func (c *refoldCtx) Partition() int32                        { return c.rec.Partition }
func (c *refoldCtx) Offset() int64                           { return c.rec.Offset }
func (c *refoldCtx) Timestamp() time.Time                    { return c.rec.Timestamp }
func (c *refoldCtx) Headers() goka.Headers                   { return goka.Headers(c.rec.Headers) }
func (c *refoldCtx) Value() any                              { return c.value }
func (c *refoldCtx) SetValue(v any, _ ...goka.ContextOption) { c.written = v.([]byte) }
func (c *refoldCtx) Fail(err error) {
	if c.failed == nil {
		c.failed = err
	}
}

// sawType tells a refold the event's type, which it reports with the step
// (a subscriber's delivery names it; the processor has no use for it).
func sawType(ctx goka.Context, typ string) {
	if c, ok := ctx.(*refoldCtx); ok {
		c.eventType = typ
	}
}

// rejected records why the fold did not apply the event (the refold's
// stand-in for writing a dead letter).
func (c *refoldCtx) rejected(typ string, err error) {
	if typ != "" { // a refusal after Apply (state_too_large) passes none
		c.eventType = typ
	}
	c.rejection = err
	c.reason = entity.ReasonDecode
	var fe *entity.FoldError
	if errors.As(err, &fe) {
		c.reason = fe.Reason
	}
}
