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
)

// Dead-letter record headers: why the event was not applied and where it came from.
const (
	HeaderError           = "eventfold-error"
	HeaderReason          = "eventfold-reason"
	HeaderEventType       = "eventfold-event-type"
	HeaderSourceTopic     = "eventfold-source-topic"
	HeaderSourcePartition = "eventfold-source-partition"
	HeaderSourceOffset    = "eventfold-source-offset"
)

// Headers of events appended by a command (DESIGN.md, "Write path").
const (
	HeaderCommandID       = "eventfold-command-id"
	HeaderExpectedVersion = "eventfold-expected-version"
	HeaderBatch           = "eventfold-batch" // "i/n", 0-based
)

// fold is the goka callback of one entity type: one call per event, on the
// goroutine of the event's partition.
func (rt *entityRuntime) fold(ctx goka.Context, msg any) {
	start := time.Now()
	defer rt.progress.advance(ctx.Partition(), ctx.Offset())
	data, _ := msg.([]byte)
	key := ctx.Key()
	if key == "" {
		rt.deadLetter(ctx, data, "", &FoldError{Reason: ReasonNoKey, Err: ErrNoKey})
		return
	}

	var env Envelope
	var stored []byte
	if v := ctx.Value(); v != nil {
		stored = v.([]byte)
		if err := env.UnmarshalBinary(stored); err != nil {
			// A table value we cannot read means a bug or foreign writes to
			// our changelog: stop rather than fold on top of garbage.
			ctx.Fail(fmt.Errorf("entity %s key %q: stored envelope: %w", rt.typ.name, key, err))
		}
		if ctx.Offset() <= env.lastOffset() {
			rt.redelivered(ctx, env, stored)
			return
		}
	}

	var out outcome
	hadPending := env.Pending != nil
	if cmd, ok, err := commandHeaders(ctx.Headers()); err != nil {
		rt.deadLetter(ctx, data, "", &FoldError{Reason: ReasonHeaders, Err: err})
		out = rejected
	} else if ok {
		out = rt.foldCommandEvent(ctx, data, &env, cmd)
	} else {
		out = rt.foldPlainEvent(ctx, data, &env)
	}
	if rt.p.cfg.history {
		rt.index(ctx, &env, out)
	} else if out == rejected && !hadPending {
		return // nothing changed
	}
	rt.store(ctx, &env)
	if out == applied {
		rt.foldSeconds.Observe(time.Since(start).Seconds())
	}
}

// outcome is what the fold did with an event.
type outcome int

const (
	applied   outcome = iota // the state changed
	rejected                 // not applied (dead letter, or the command rule)
	pending                  // folded aside as part of an unfinished command
	committed                // the last event of a command: the command applied
)

func (rt *entityRuntime) foldPlainEvent(ctx goka.Context, data []byte, env *Envelope) outcome {
	state, typ, err := rt.typ.apply(env.State, env.Version > 0, data)
	if env.Pending != nil {
		// The pending command was decided on the state this event changes
		// (or would have changed).
		rt.logRejected(ctx, env.Pending.ID, "aborted: a plain event arrived in the middle of it")
		env.Pending = nil
	}
	if err != nil {
		rt.deadLetter(ctx, data, typ, err)
		return rejected
	}
	env.State, env.Version = state, env.Version+1
	env.Partition, env.Offset, env.UpdatedAt = ctx.Partition(), ctx.Offset(), ctx.Timestamp()
	rt.counter(ctx.Partition()).Inc()
	return applied
}

// lastOffset is the highest offset already folded into e (applied, or
// folded aside into a pending command).
func (e *Envelope) lastOffset() int64 {
	if e.Pending != nil && e.Pending.Offset > e.Offset {
		return e.Pending.Offset
	}
	return e.Offset
}

func (rt *entityRuntime) store(ctx goka.Context, env *Envelope) {
	b, _ := env.MarshalBinary()
	ctx.SetValue(b)
}

// commandHeader is what an event says about the command that appended it.
type commandHeader struct {
	id       string
	expected uint64
	index, n int
}

func commandHeaders(h goka.Headers) (commandHeader, bool, error) {
	id, ok := h[HeaderCommandID]
	if !ok {
		return commandHeader{}, false, nil
	}
	c := commandHeader{id: string(id)}
	var err error
	if c.expected, err = strconv.ParseUint(string(h[HeaderExpectedVersion]), 10, 64); err != nil {
		return c, false, fmt.Errorf("bad %s header %q", HeaderExpectedVersion, h[HeaderExpectedVersion])
	}
	i, n, found := strings.Cut(string(h[HeaderBatch]), "/")
	c.index, err = strconv.Atoi(i)
	if err == nil {
		c.n, err = strconv.Atoi(n)
	}
	if !found || err != nil || c.n < 1 || c.index < 0 || c.index >= c.n || c.id == "" {
		return c, false, fmt.Errorf("bad command headers: id %q batch %q", id, h[HeaderBatch])
	}
	return c, true, nil
}

// foldCommandEvent applies the write-path rule: event 0 of a command only on
// the version it was decided on, event i>0 only after event i-1 of the same
// command; a command's events are folded aside and become the state all at
// once with its last event. Rejected events stay in the topic (they are
// history) and are counted, not dead-lettered.
func (rt *entityRuntime) foldCommandEvent(ctx goka.Context, data []byte, env *Envelope, cmd commandHeader) outcome {
	var base []byte
	// An envelope with only a pending command has no state yet.
	baseExists := env.Version > 0
	switch {
	case cmd.index == 0:
		if env.Version != cmd.expected {
			rt.rejectCommandEvent(ctx, cmd, fmt.Sprintf("decided on version %d, entity is at %d", cmd.expected, env.Version))
			return rejected
		}
		if env.Pending != nil {
			rt.logRejected(ctx, env.Pending.ID, "aborted: another command on the same version started")
		}
		base = env.State
	default:
		p := env.Pending
		if p == nil || p.ID != cmd.id || p.Next != cmd.index {
			rt.rejectCommandEvent(ctx, cmd, fmt.Sprintf("event %d of %d does not follow an applied event %d", cmd.index, cmd.n, cmd.index-1))
			return rejected
		}
		base, baseExists = p.State, true
	}
	state, typ, err := rt.typ.apply(base, baseExists, data)
	if err != nil {
		rt.deadLetter(ctx, data, typ, err)
		if env.Pending != nil {
			rt.logRejected(ctx, env.Pending.ID, "aborted: one of its events does not apply")
			env.Pending = nil
		}
		return rejected
	}
	if cmd.index < cmd.n-1 {
		env.Pending = &PendingCommand{ID: cmd.id, Expected: cmd.expected, Next: cmd.index + 1, N: cmd.n, State: state, Offset: ctx.Offset()}
		return pending
	}
	env.Pending = nil
	env.State, env.Version = state, cmd.expected+uint64(cmd.n)
	env.Partition, env.Offset, env.UpdatedAt = ctx.Partition(), ctx.Offset(), ctx.Timestamp()
	env.Commands = append(env.Commands, CommandRecord{ID: cmd.id, Version: env.Version, Offset: ctx.Offset()})
	if len(env.Commands) > maxCommandRecords {
		env.Commands = env.Commands[len(env.Commands)-maxCommandRecords:]
	}
	rt.counter(ctx.Partition()).Add(float64(cmd.n))
	return committed
}

func (rt *entityRuntime) rejectCommandEvent(ctx goka.Context, cmd commandHeader, why string) {
	rt.p.metrics.cmdRejected.WithLabelValues(rt.typ.name).Inc()
	rt.logRejected(ctx, cmd.id, why)
}

func (rt *entityRuntime) logRejected(ctx goka.Context, id, why string) {
	rt.p.cfg.logger.Info("command event not applied",
		slog.String("entity", rt.typ.name), slog.String("key", ctx.Key()), slog.String("command_id", id),
		slog.Int("partition", int(ctx.Partition())), slog.Int64("offset", ctx.Offset()), slog.String("reason", why))
}

// redelivered handles an event at or below the applied offset: Kafka
// redelivers after a crash between the table write and the offset commit.
// It is not applied again. goka writes the local table before the changelog,
// so after a crash the local copy can be ahead of the changelog; writing the
// envelope again when its own last event comes back closes that gap (once
// per key, only after a crash).
func (rt *entityRuntime) redelivered(ctx goka.Context, env Envelope, stored []byte) {
	rt.skipped.Inc()
	if ctx.Offset() == env.Offset {
		ctx.SetValue(stored)
	}
}

// deadLetter sends an event that cannot be applied to the dead-letter topic,
// with the reason in headers, and leaves the state alone.
func (rt *entityRuntime) deadLetter(ctx goka.Context, data []byte, typ string, err error) {
	reason := ReasonDecode
	var fe *FoldError
	if errors.As(err, &fe) {
		reason = fe.Reason
	}
	rt.p.cfg.logger.Warn("event sent to dead-letter topic",
		slog.String("entity", rt.typ.name), slog.String("key", ctx.Key()),
		slog.Int("partition", int(ctx.Partition())), slog.Int64("offset", ctx.Offset()),
		slog.String("reason", string(reason)), slog.String("event_type", typ), slog.Any("error", err))
	hdr := goka.Headers{
		HeaderError:           []byte(err.Error()),
		HeaderReason:          []byte(reason),
		HeaderSourceTopic:     []byte(rt.typ.topic),
		HeaderSourcePartition: []byte(strconv.Itoa(int(ctx.Partition()))),
		HeaderSourceOffset:    []byte(strconv.FormatInt(ctx.Offset(), 10)),
	}
	if typ != "" {
		hdr[HeaderEventType] = []byte(typ)
	}
	ctx.Emit(goka.Stream(rt.typ.DeadLetterTopic()), ctx.Key(), data, goka.WithCtxEmitHeaders(hdr))
	rt.p.metrics.deadLetters.WithLabelValues(rt.typ.name, string(reason)).Inc()
}

func (rt *entityRuntime) counter(partition int32) prometheus.Counter {
	if int(partition) < len(rt.folded) {
		return rt.folded[partition]
	}
	return rt.p.metrics.folded.WithLabelValues(rt.typ.name, strconv.Itoa(int(partition)))
}
