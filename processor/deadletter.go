package processor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"

	"github.com/eventfold/eventfold/entity"
	"github.com/eventfold/eventfold/kafka"
	"github.com/eventfold/eventfold/limits"
)

// Dead-letter record headers: why the event was not applied and where it
// came from. They are defined once, in package entity, where the API's
// dead-letter route reads them too.
const (
	HeaderError           = entity.DeadLetterHeaderError
	HeaderReason          = entity.DeadLetterHeaderReason
	HeaderEventType       = entity.DeadLetterHeaderEventType
	HeaderSourceTopic     = entity.DeadLetterHeaderSourceTopic
	HeaderSourcePartition = entity.DeadLetterHeaderSourcePartition
	HeaderSourceOffset    = entity.DeadLetterHeaderSourceOffset
	// HeaderValueOmitted carries the size of an event too large to be
	// copied into its dead letter; the source headers say where it is.
	HeaderValueOmitted = entity.DeadLetterHeaderValueOmitted
	// HeaderKeyOmitted likewise for a key over limits.IDBytes.
	HeaderKeyOmitted = entity.DeadLetterHeaderKeyOmitted
)

// deadLetter sends an event that cannot be applied to the dead-letter topic,
// with the reason in headers, and leaves the state alone. It returns false
// when the dead letter could not be written: the partition then fails and
// the event comes back, since nothing about it was stored.
//
// The write is synchronous and comes before the envelope that records the
// event as seen: once the table says an offset was folded, its dead letter
// is in Kafka, so a redelivery may skip it without losing it.
//
// The record is bounded: the error text is capped, and an event (or key)
// that leaves no room for the headers is replaced by a reference to its
// source position, so a dead letter can always be written.
func (rt *entityRuntime) deadLetter(ctx goka.Context, data []byte, typ string, err error) bool {
	if c, ok := ctx.(*refoldCtx); ok {
		// The processor writes the dead letter; a refold only learns why.
		c.rejected(typ, err)
		return true
	}
	reason := entity.ReasonDecode
	var fe *entity.FoldError
	if errors.As(err, &fe) {
		reason = fe.Reason
	}
	if reason == entity.ReasonSkip {
		// Not applied on purpose (entity.ErrSkip): nothing to repair.
		rt.p.metrics.evolveSkip.WithLabelValues(rt.typ.Name()).Inc()
		return true
	}
	rt.p.cfg.Logger.Warn("event sent to dead-letter topic",
		slog.String("entity", rt.typ.Name()), slog.String("key", limits.Truncate(ctx.Key(), 256)),
		slog.Int("partition", int(ctx.Partition())), slog.Int64("offset", ctx.Offset()),
		slog.String("reason", string(reason)), slog.String("event_type", typ), slog.String("error", limits.Truncate(err.Error(), 512)))
	rec := deadLetterRecord(rt.typ.DeadLetterTopic(), rt.typ.Topic(), ctx.Key(), data, typ, reason, err, ctx.Partition(), ctx.Offset())
	pr, perr := rt.p.producer()
	if perr == nil {
		wctx, cancel := context.WithTimeout(ctx.Context(), writeTimeout)
		_, perr = pr.Send(wctx, rec)
		cancel()
	}
	if perr != nil {
		rt.p.permanent(perr)
		ctx.Fail(fmt.Errorf("dead letter for %s partition %d offset %d: %w", rt.typ.Name(), ctx.Partition(), ctx.Offset(), perr))
		return false
	}
	rt.p.metrics.deadLetters.WithLabelValues(rt.typ.Name(), string(reason)).Inc()
	return true
}

// deadLetterRecord builds a dead letter that fits in one record.
func deadLetterRecord(topic, source, key string, data []byte, typ string, reason entity.Reason, err error,
	partition int32, offset int64) kafka.Record {
	hdr := []sarama.RecordHeader{
		{Key: []byte(HeaderError), Value: []byte(limits.Truncate(err.Error(), limits.ErrorTextBytes))},
		{Key: []byte(HeaderReason), Value: []byte(reason)},
		{Key: []byte(HeaderSourceTopic), Value: []byte(source)},
		{Key: []byte(HeaderSourcePartition), Value: []byte(strconv.Itoa(int(partition)))},
		{Key: []byte(HeaderSourceOffset), Value: []byte(strconv.FormatInt(offset, 10))},
	}
	if typ != "" {
		hdr = append(hdr, sarama.RecordHeader{Key: []byte(HeaderEventType), Value: []byte(limits.Truncate(typ, 256))})
	}
	if len(key) > limits.IDBytes {
		hdr = append(hdr, sarama.RecordHeader{Key: []byte(HeaderKeyOmitted), Value: []byte(strconv.Itoa(len(key)))})
		key = ""
	}
	size := limits.RecordOverhead + len(key) + len(data)
	for _, h := range hdr {
		size += len(h.Key) + len(h.Value) + 10
	}
	if size > limits.RecordBytes {
		hdr = append(hdr, sarama.RecordHeader{Key: []byte(HeaderValueOmitted), Value: []byte(strconv.Itoa(len(data)))})
		data = nil
	}
	return kafka.Record{Topic: topic, Key: key, Value: data, Headers: hdr}
}
