package processor

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/lovoo/goka"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventfold/eventfold"
	"github.com/eventfold/eventfold/entity"
	"github.com/eventfold/eventfold/limits"
	"github.com/eventfold/eventfold/table"
)

// Headers of events appended by a command (DESIGN.md, "Write path").
const (
	HeaderCommandID       = "eventfold-command-id"
	HeaderExpectedVersion = "eventfold-expected-version"
	HeaderBatch           = "eventfold-batch" // "i/n", 0-based
	// HeaderFingerprint identifies the request that carried the command
	// (hex): a reused Idempotency-Key with another request is refused.
	HeaderFingerprint = "eventfold-command-fingerprint"
)

// fold is the goka callback of one entity type: one call per event, on the
// goroutine of the event's partition. The event counts as folded (for
// read-your-writes and commands waiting for it) only once foldEvent is
// done with it: not when the partition failed on it, whether ctx.Fail
// panicked out of the callback or (the partition stopping) returned.
func (rt *entityRuntime) fold(ctx goka.Context, msg any) {
	if rt.foldEvent(ctx, msg) {
		rt.progress.advance(ctx.Partition(), ctx.Offset())
		return
	}
	// On a stopping partition (a rebalance, a shutdown) goka's ctx.Fail
	// returns instead of panicking, and goka then marks the message done as
	// if it had been folded: the committed offset would pass an event no
	// node folds again. A commit held open with an error keeps the message
	// undone.
	ctx.DeferCommit()(errNotFolded)
}

// errNotFolded withholds the commit of an event the fold failed on.
var errNotFolded = errors.New("event not folded: the partition failed on it")

// foldEvent applies one event; false means the partition failed on it and
// the event will be delivered again.
func (rt *entityRuntime) foldEvent(ctx goka.Context, msg any) bool {
	start := time.Now()
	data, _ := msg.([]byte)
	key := ctx.Key()
	switch {
	case key == "":
		return rt.deadLetter(ctx, data, "", &entity.FoldError{Reason: entity.ReasonNoKey, Err: entity.ErrNoKey})
	case len(key) > limits.IDBytes:
		// The table cannot hold it: no envelope, so no dedupe either.
		return rt.deadLetter(ctx, data, "", &entity.FoldError{Reason: entity.ReasonKeyTooLarge,
			Err: fmt.Errorf("key of %d bytes, the limit is %d", len(key), limits.IDBytes)})
	}

	env := table.Envelope{Seen: -1}
	var stored []byte
	if v := ctx.Value(); v != nil {
		stored = v.([]byte)
		if err := env.UnmarshalBinary(stored); err != nil {
			// A table value we cannot read means a bug or foreign writes to
			// our changelog: stop rather than fold on top of garbage.
			ctx.Fail(fmt.Errorf("entity %s key %q: stored envelope: %w", rt.typ.Name(), key, err))
			return false
		}
		if ctx.Offset() <= env.Seen {
			rt.redelivered(ctx, env, stored)
			return true
		}
	}
	var out outcome
	hadPending := env.Pending != nil
	if cmd, ok, err := commandHeaders(ctx.Headers()); err != nil {
		if !rt.deadLetter(ctx, data, "", &entity.FoldError{Reason: entity.ReasonHeaders, Err: err}) {
			return false
		}
		out = rejected
	} else if ok {
		out = rt.foldCommandEvent(ctx, data, &env, cmd)
	} else {
		out = rt.foldPlainEvent(ctx, data, &env)
	}
	if out == failed {
		return false
	}
	if !rt.p.cfg.history && out == rejected && !hadPending && stored == nil {
		// Nothing to remember of a key that never applied anything.
		return true
	}
	b := rt.record(ctx, &env, out)
	if out != rejected && len(key)+len(b) > envelopeRoom-rt.headroom() {
		// The event is valid but the entity would outgrow a record: a
		// table write that can never succeed would stop the fold.
		err := fmt.Errorf("%w: the entity would take %d bytes, the limit is %d", ErrStateTooLarge, len(key)+len(b), envelopeRoom-rt.headroom())
		env = rt.original(stored)
		if !rt.deadLetter(ctx, data, "", &entity.FoldError{Reason: entity.ReasonStateTooLarge, Err: err}) {
			return false
		}
		if env.Pending != nil {
			rt.logRejected(ctx, env.Pending.ID, "aborted: its state would be too large")
			rt.pending.drop(ctx.Partition(), key)
			env.Pending = nil
		}
		out = rejected
		b = rt.record(ctx, &env, out)
	}
	if len(key)+len(b) > envelopeRoom {
		// The headroom above makes this impossible; should it happen, the
		// key's last write stands rather than a write that cannot succeed.
		rt.p.metrics.oversized.WithLabelValues(rt.typ.Name()).Inc()
		rt.p.cfg.Logger.Error("envelope over the record limit not written",
			slog.String("entity", rt.typ.Name()), slog.String("key", limits.Truncate(key, 256)),
			slog.Int("partition", int(ctx.Partition())), slog.Int64("offset", ctx.Offset()), slog.Int("bytes", len(b)))
		return true
	}
	ctx.SetValue(b)
	if out == applied || out == committed {
		rt.foldSeconds.Observe(time.Since(start).Seconds())
	}
	return true
}

// record marks the event seen, indexes it and encodes the envelope.
func (rt *entityRuntime) record(ctx goka.Context, env *table.Envelope, out outcome) []byte {
	env.Seen = ctx.Offset()
	if rt.p.cfg.history && !rt.refold {
		rt.index(ctx, env, out)
	}
	b, _ := env.MarshalBinary()
	return b
}

// envelopeRoom is what key and envelope may take in one table record.
const envelopeRoom = limits.EnvelopeBytes + limits.IDBytes

// headroom is what an event may apply only if it leaves free: what the
// events after it can add to the envelope before the history index seals
// (an entry each, up to the fanout, and a pointer per level), so that
// refusing them never needs more room than there is.
func (rt *entityRuntime) headroom() int {
	h := 2 * limits.IdempotencyKeyBytes // a command record, a pending command
	if rt.p.cfg.history {
		h += 64 * rt.p.cfg.historyFanout
	}
	return h
}

// original decodes the envelope as it was before this event.
func (rt *entityRuntime) original(stored []byte) table.Envelope {
	env := table.Envelope{Seen: -1}
	if stored != nil {
		_ = env.UnmarshalBinary(stored) // it decoded a moment ago
	}
	return env
}

// outcome is what the fold did with an event.
type outcome int

const (
	applied   outcome = iota // the state changed
	rejected                 // not applied (dead letter, or the command rule)
	pending                  // folded aside as part of an unfinished command
	committed                // the last event of a command: the command applied
	failed                   // the partition failed (a write or fetch that must be retried)
)

func (rt *entityRuntime) foldPlainEvent(ctx goka.Context, data []byte, env *table.Envelope) outcome {
	state, typ, err := rt.typ.Apply(env.State, env.Version > 0, data)
	sawType(ctx, typ)
	if env.Pending != nil {
		// The pending command was decided on the state this event changes
		// (or would have changed).
		rt.logRejected(ctx, env.Pending.ID, "aborted: a plain event arrived in the middle of it")
		rt.pending.drop(ctx.Partition(), ctx.Key())
		env.Pending = nil
	}
	if err != nil {
		if !rt.deadLetter(ctx, data, typ, err) {
			return failed
		}
		return rejected
	}
	env.State, env.Version = state, env.Version+1
	env.Partition, env.Offset, env.UpdatedAt = ctx.Partition(), ctx.Offset(), ctx.Timestamp()
	rt.counter(ctx.Partition()).Inc()
	return applied
}

// commandHeader is what an event says about the command that appended it.
type commandHeader struct {
	id          string
	expected    uint64
	index, n    int
	fingerprint uint64
}

func commandHeaders(h goka.Headers) (commandHeader, bool, error) {
	id, ok := h[HeaderCommandID]
	if !ok {
		return commandHeader{}, false, nil
	}
	c := commandHeader{id: string(id)}
	if len(id) > limits.IdempotencyKeyBytes {
		return c, false, fmt.Errorf("command id of %d bytes, the limit is %d", len(id), limits.IdempotencyKeyBytes)
	}
	var err error
	if c.expected, err = strconv.ParseUint(string(h[HeaderExpectedVersion]), 10, 64); err != nil {
		return c, false, fmt.Errorf("bad %s header %q", HeaderExpectedVersion, short(h[HeaderExpectedVersion]))
	}
	i, n, found := strings.Cut(string(h[HeaderBatch]), "/")
	c.index, err = strconv.Atoi(i)
	if err == nil {
		c.n, err = strconv.Atoi(n)
	}
	if !found || err != nil || c.n < 1 || c.index < 0 || c.index >= c.n || c.id == "" {
		return c, false, fmt.Errorf("bad command headers: id %q batch %q", short(id), short(h[HeaderBatch]))
	}
	if fp, ok := h[HeaderFingerprint]; ok {
		if c.fingerprint, err = strconv.ParseUint(string(fp), 16, 64); err != nil {
			return c, false, fmt.Errorf("bad %s header %q", HeaderFingerprint, short(fp))
		}
	}
	return c, true, nil
}

// short quotes at most a prefix of hostile input in an error.
func short(b []byte) string {
	if len(b) > 64 {
		return string(b[:64]) + "…"
	}
	return string(b)
}

// foldCommandEvent applies the write-path rule: event 0 of a command only on
// the version it was decided on, event i>0 only after event i-1 of the same
// command; a command's events are folded aside and become the state all at
// once with its last event. Rejected events stay in the topic (they are
// history) and are counted, not dead-lettered.
func (rt *entityRuntime) foldCommandEvent(ctx goka.Context, data []byte, env *table.Envelope, cmd commandHeader) outcome {
	var base []byte
	// An envelope with only a pending command has no state yet.
	baseExists := env.Version > 0
	switch {
	case cmd.n > rt.typ.MaxCommandEvents():
		rt.rejectCommandEvent(ctx, cmd, fmt.Sprintf("a command of %d events, the limit is %d", cmd.n, rt.typ.MaxCommandEvents()))
		return rejected
	case cmd.index == 0:
		if env.Version != cmd.expected {
			rt.rejectCommandEvent(ctx, cmd, fmt.Sprintf("decided on version %d, entity is at %d", cmd.expected, env.Version))
			return rejected
		}
		if env.Pending != nil {
			rt.logRejected(ctx, env.Pending.ID, "aborted: another command on the same version started")
			rt.pending.drop(ctx.Partition(), ctx.Key())
			env.Pending = nil
		}
		base = env.State
	default:
		p := env.Pending
		if p == nil || p.ID != cmd.id || p.Next != cmd.index {
			rt.rejectCommandEvent(ctx, cmd, fmt.Sprintf("event %d of %d does not follow an applied event %d", cmd.index, cmd.n, cmd.index-1))
			return rejected
		}
		var err error
		var ok bool
		if base, ok, err = rt.pendingState(ctx, env); err != nil {
			ctx.Fail(err)
			return failed
		} else if !ok {
			rt.rejectCommandEvent(ctx, cmd, "its earlier events cannot be found again")
			rt.pending.drop(ctx.Partition(), ctx.Key())
			env.Pending = nil
			return rejected
		}
		baseExists = true
	}
	state, typ, err := rt.typ.Apply(base, baseExists, data)
	sawType(ctx, typ)
	if err != nil {
		if !rt.deadLetter(ctx, data, typ, err) {
			return failed
		}
		if env.Pending != nil {
			rt.logRejected(ctx, env.Pending.ID, "aborted: one of its events does not apply")
			rt.pending.drop(ctx.Partition(), ctx.Key())
			env.Pending = nil
		}
		return rejected
	}
	if cmd.index < cmd.n-1 {
		next := &table.PendingCommand{ID: cmd.id, Expected: cmd.expected, Next: cmd.index + 1, N: cmd.n, Offset: ctx.Offset()}
		if p := env.Pending; p != nil && p.State != nil {
			// Begun before format 4: no offsets to rebuild from, so the
			// state travels in the envelope until the command ends.
			next.State = state
		} else {
			if p != nil {
				next.Offsets = p.Offsets
			}
			next.Offsets = append(next.Offsets, ctx.Offset())
		}
		env.Pending = next
		rt.pending.put(ctx.Partition(), ctx.Key(), cmd.id, ctx.Offset(), state)
		return pending
	}
	rt.pending.drop(ctx.Partition(), ctx.Key())
	env.Pending = nil
	env.State, env.Version = state, cmd.expected+uint64(cmd.n)
	env.Partition, env.Offset, env.UpdatedAt = ctx.Partition(), ctx.Offset(), ctx.Timestamp()
	env.Commands = append(env.Commands, table.CommandRecord{ID: cmd.id, Version: env.Version, Offset: ctx.Offset(), Fingerprint: cmd.fingerprint})
	if len(env.Commands) > table.MaxCommandRecords {
		env.Commands = env.Commands[len(env.Commands)-table.MaxCommandRecords:]
	}
	rt.counter(ctx.Partition()).Add(float64(cmd.n))
	return committed
}

func (rt *entityRuntime) rejectCommandEvent(ctx goka.Context, cmd commandHeader, why string) {
	if c, ok := ctx.(*refoldCtx); ok {
		c.rejected("", &entity.FoldError{Reason: entity.ReasonCommand, Err: errors.New(why)})
	}
	rt.p.metrics.cmdRejected.WithLabelValues(rt.typ.Name()).Inc()
	rt.logRejected(ctx, cmd.id, why)
}

func (rt *entityRuntime) logRejected(ctx goka.Context, id, why string) {
	rt.p.cfg.Logger.Info("command event not applied",
		slog.String("entity", rt.typ.Name()), slog.String("key", ctx.Key()), slog.String("command_id", id),
		slog.Int("partition", int(ctx.Partition())), slog.Int64("offset", ctx.Offset()), slog.String("reason", why))
}

// redelivered handles an event at or below the last folded offset: Kafka
// redelivers after a crash between the table write and the offset commit,
// or after a rebalance that did not commit. It is not applied, indexed or
// dead-lettered again. goka writes the local table before the changelog,
// so after a crash the local copy can be ahead of the changelog; writing
// the envelope again when its own last event comes back closes that gap
// (once per key, only after a crash).
func (rt *entityRuntime) redelivered(ctx goka.Context, env table.Envelope, stored []byte) {
	rt.skipped.Inc()
	if ctx.Offset() == env.Seen {
		ctx.SetValue(stored)
	}
}

// ErrStateTooLarge is the cause of a state_too_large dead letter (and of a
// command's 422): the event would make the entity's envelope larger than a
// table record may be.
var ErrStateTooLarge = eventfold.ErrStateTooLarge

func (rt *entityRuntime) counter(partition int32) prometheus.Counter {
	if int(partition) < len(rt.folded) {
		return rt.folded[partition]
	}
	return rt.p.metrics.folded.WithLabelValues(rt.typ.Name(), strconv.Itoa(int(partition)))
}
