package subscriber

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/IBM/sarama"

	"github.com/eventfold/eventfold/kafka"
	"github.com/eventfold/eventfold/limits"
	"github.com/eventfold/eventfold/processor"
)

// Headers of a subscriber's dead letter, besides processor's
// HeaderError, HeaderReason and HeaderSource*.
const (
	HeaderEntity   = "eventfold-entity"
	HeaderEventID  = "eventfold-event-id"
	HeaderAttempts = "eventfold-attempts"
)

// ReasonHandler is the HeaderReason of a delivery its handler failed.
const ReasonHandler = "handler"

// deliver hands d to the handler until it succeeds or has used its
// attempts, then dead-letters it. false means ctx ended, or stop was
// closed before an attempt began: the delivery is not done. An attempt
// that has begun is not cut off by stop, only by ctx.
func (s *sub) deliver(ctx context.Context, stop <-chan struct{}, d Delivery) bool {
	for attempt := 1; ; attempt++ {
		if !s.waitResumed(ctx, stop) {
			return false
		}
		select {
		case s.sem <- struct{}{}:
		case <-ctx.Done():
			return false
		case <-stop:
			return false
		}
		select {
		case <-stop: // both were ready: leaving wins
			<-s.sem
			return false
		default:
		}
		d.Attempt = attempt
		err := s.attempt(ctx, d)
		<-s.sem
		if err == nil {
			s.count(resultDelivered)
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		var perm *permanentError
		if attempt >= s.s.MaxAttempts || errors.As(err, &perm) {
			s.count(resultDeadLettered)
			return s.deadLetter(ctx, d, err)
		}
		s.count(resultRetried)
		wait := backoff(s.s.Backoff, s.s.MaxBackoff, attempt)
		var ra *retryAfterError
		if errors.As(err, &ra) {
			wait = min(max(ra.after, 0), s.s.MaxBackoff)
		}
		s.log.Info("delivery failed; retrying", slog.String("event_id", d.EventID), slog.Int("attempt", attempt),
			slog.Duration("wait", wait), slog.String("error", limits.Truncate(err.Error(), 512)))
		select {
		case <-ctx.Done():
			return false
		case <-stop:
			return false
		case <-time.After(wait):
		}
	}
}

// attempt runs the handler once, bounded by the subscriber's timeout; a
// panic is a failed attempt, not a dead node.
func (s *sub) attempt(ctx context.Context, d Delivery) (err error) {
	actx, cancel := context.WithTimeout(ctx, s.s.Timeout)
	defer cancel()
	if c := s.r.cfg.commander; c != nil {
		actx = context.WithValue(actx, commanderKey{}, c)
	}
	start := time.Now()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handler panicked: %v", r)
		}
		s.r.metrics.handle.WithLabelValues(s.s.Name).Observe(time.Since(start).Seconds())
	}()
	return s.s.Handler.Handle(actx, d)
}

// backoff is the wait before retry number attempt: base doubled per
// attempt, at most ceiling.
func backoff(base, ceiling time.Duration, attempt int) time.Duration {
	w := base
	for i := 1; i < attempt && w < ceiling; i++ {
		w *= 2
	}
	return min(w, ceiling)
}

func (s *sub) count(result string) {
	s.r.metrics.deliveries.WithLabelValues(s.s.Name, result).Inc()
	s.mu.Lock()
	defer s.mu.Unlock()
	switch result {
	case resultDelivered:
		s.counts.delivered++
	case resultRetried:
		s.counts.retried++
	case resultDeadLettered:
		s.counts.deadLettered++
	}
}

// deadLetter writes d to the subscriber's dead-letter topic with why, and
// retries the write until it lands or ctx ends: a delivery is done only
// once handled or dead-lettered.
func (s *sub) deadLetter(ctx context.Context, d Delivery, why error) bool {
	hdr := []sarama.RecordHeader{
		{Key: []byte(processor.HeaderError), Value: []byte(limits.Truncate(why.Error(), limits.ErrorTextBytes))},
		{Key: []byte(processor.HeaderReason), Value: []byte(ReasonHandler)},
		{Key: []byte(processor.HeaderSourceTopic), Value: []byte(d.topic)},
		{Key: []byte(processor.HeaderSourcePartition), Value: []byte(strconv.Itoa(int(d.Partition)))},
		{Key: []byte(processor.HeaderSourceOffset), Value: []byte(strconv.FormatInt(d.Offset, 10))},
		{Key: []byte(HeaderEntity), Value: []byte(d.Entity)},
		{Key: []byte(HeaderEventID), Value: []byte(d.EventID)},
		{Key: []byte(HeaderAttempts), Value: []byte(strconv.Itoa(d.Attempt))},
	}
	body, err := d.MarshalJSON()
	if err != nil || len(body)+len(d.ID)+limits.RecordOverhead+4096 > limits.RecordBytes {
		// The whole delivery does not fit: its source position does.
		body = nil
	}
	rec := kafka.Record{Topic: s.dlq, Key: d.ID, Value: body, Headers: hdr}
	wait := 200 * time.Millisecond
	for {
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err := s.r.prod.Send(wctx, rec)
		cancel()
		if err == nil {
			s.r.metrics.deadLetters.WithLabelValues(s.s.Name).Inc()
			s.log.Warn("delivery dead-lettered", slog.String("event_id", d.EventID), slog.Int("attempts", d.Attempt),
				slog.String("error", limits.Truncate(why.Error(), 512)))
			return true
		}
		s.log.Warn("subscriber dead letter not written; retrying", slog.String("event_id", d.EventID), slog.Any("error", err))
		select {
		case <-ctx.Done():
			return false
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}
