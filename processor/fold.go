package processor

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
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

// fold is the goka callback of one entity type: one call per event, on the
// goroutine of the event's partition.
func (rt *entityRuntime) fold(ctx goka.Context, msg any) {
	start := time.Now()
	data, _ := msg.([]byte)
	key := ctx.Key()
	if key == "" {
		rt.deadLetter(ctx, data, "", &FoldError{Reason: ReasonNoKey, Err: ErrNoKey})
		return
	}

	var env Envelope
	exists := false
	var stored []byte
	if v := ctx.Value(); v != nil {
		stored = v.([]byte)
		if err := env.UnmarshalBinary(stored); err != nil {
			// A table value we cannot read means a bug or foreign writes to
			// our changelog: stop rather than fold on top of garbage.
			ctx.Fail(fmt.Errorf("entity %s key %q: stored envelope: %w", rt.typ.name, key, err))
		}
		exists = true
		if ctx.Offset() <= env.Offset {
			rt.redelivered(ctx, env, stored)
			return
		}
	}

	state, typ, err := rt.typ.apply(env.State, exists, data)
	if err != nil {
		rt.deadLetter(ctx, data, typ, err)
		return
	}
	next := Envelope{
		State:     state,
		Version:   env.Version + 1,
		Partition: ctx.Partition(),
		Offset:    ctx.Offset(),
		UpdatedAt: ctx.Timestamp(),
	}
	b, _ := next.MarshalBinary()
	ctx.SetValue(b)
	rt.counter(ctx.Partition()).Inc()
	rt.foldSeconds.Observe(time.Since(start).Seconds())
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
