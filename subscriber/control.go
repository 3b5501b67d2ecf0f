package subscriber

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/IBM/sarama"

	"github.com/eventfold/eventfold"
	"github.com/eventfold/eventfold/kafka"
)

// control is a record of the control topic: whether a subscriber is
// paused, for every node that runs it.
type control struct {
	Paused bool      `json:"paused"`
	At     time.Time `json:"at"`
}

// followControl applies the control topic's records, from its start, for
// as long as ctx lasts; ready is closed once what was there at the start
// is applied (so a paused subscriber never starts delivering).
func (r *Runner) followControl(ctx context.Context, ready chan struct{}) error {
	topic := r.cfg.SubscriberControlTopic()
	hwm, err := r.client.GetOffset(topic, 0, sarama.OffsetNewest)
	if err != nil {
		return fmt.Errorf("subscriber: control topic %s: %w", topic, err)
	}
	pc, err := r.consumer.ConsumePartition(topic, 0, sarama.OffsetOldest)
	if err != nil {
		return fmt.Errorf("subscriber: control topic %s: %w", topic, err)
	}
	defer pc.Close()
	if hwm == 0 {
		close(ready)
	}
	for {
		select {
		case m := <-pc.Messages():
			var c control
			if m.Value != nil {
				if err := json.Unmarshal(m.Value, &c); err != nil {
					r.cfg.Logger.Warn("unreadable subscriber control record ignored", slog.String("key", string(m.Key)), slog.Any("error", err))
				}
			}
			if s := r.sub(string(m.Key)); s != nil {
				s.setPaused(c.Paused)
			}
			if m.Offset+1 == hwm {
				close(ready)
			}
		case err := <-pc.Errors():
			r.cfg.Logger.Warn("subscriber control topic read failed", slog.Any("error", err))
		case <-ctx.Done():
			return nil
		}
	}
}

func (r *Runner) sub(name string) *sub {
	for _, s := range r.subs {
		if s.s.Name == name {
			return s
		}
	}
	return nil
}

// Pause pauses (or, with paused false, resumes) subscriber name on every
// node: the control topic carries it, so nodes that start later see it
// too. A paused subscriber finishes the attempt in flight and starts no
// other; its lag grows.
func (r *Runner) Pause(ctx context.Context, name string, paused bool) error {
	s := r.sub(name)
	if s == nil {
		return fmt.Errorf("%w: no subscriber %q", eventfold.ErrNotFound, name)
	}
	if !r.runsAny() {
		return fmt.Errorf("%w: this node runs no subscriber (serve --subscribers); ask a node that runs %s (GET /v1/subscribers says which)", eventfold.ErrInvalid, name)
	}
	select {
	case <-r.started:
	case <-ctx.Done():
		return ctx.Err()
	}
	b, _ := json.Marshal(control{Paused: paused, At: time.Now().UTC()})
	if _, err := r.prod.Send(ctx, kafka.Record{Topic: r.cfg.SubscriberControlTopic(), Key: name, Value: b, Pinned: true}); err != nil {
		return fmt.Errorf("%w: subscriber control: %w", eventfold.ErrUnavailable, err)
	}
	s.setPaused(paused) // the topic brings it back shortly; answer with it now
	return nil
}

func (s *sub) setPaused(p bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p == s.paused {
		return
	}
	s.paused = p
	v := 0.0
	if p {
		s.resumed = make(chan struct{})
		v = 1
	} else if s.resumed != nil {
		close(s.resumed)
	}
	s.r.metrics.paused.WithLabelValues(s.s.Name).Set(v)
	s.log.Info("subscriber paused state changed", slog.Bool("paused", p))
}

// waitResumed blocks while the subscriber is paused; false if ctx ended
// or stop was closed.
func (s *sub) waitResumed(ctx context.Context, stop <-chan struct{}) bool {
	for {
		s.mu.Lock()
		paused, ch := s.paused, s.resumed
		s.mu.Unlock()
		if !paused {
			return true
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		case <-stop:
			return false
		}
	}
}

// Status is what a node knows of one subscriber (GET /v1/subscribers).
type Status struct {
	Name        string   `json:"name"`
	Entities    []string `json:"entities"`
	Mode        string   `json:"mode"`
	Start       string   `json:"start"`
	Concurrency int      `json:"concurrency"`
	MaxAttempts int      `json:"max_attempts"`
	Group       string   `json:"group"`
	DeadLetters string   `json:"dead_letter_topic"`
	// Runs says whether this node runs it (serve --subscribers).
	Runs   bool `json:"runs"`
	Paused bool `json:"paused"`
	// Partitions are those this node delivers, per entity type, and Lag
	// their events not done yet.
	Partitions map[string][]int32 `json:"partitions"`
	Lag        int64              `json:"lag"`
	// Delivered, Retried and DeadLettered count this node's attempts
	// since it started.
	Delivered    int64 `json:"delivered"`
	Retried      int64 `json:"retried"`
	DeadLettered int64 `json:"dead_lettered"`
}

// Status returns every declared subscriber's state on this node, by name.
func (r *Runner) Status() []Status {
	out := make([]Status, 0, len(r.subs))
	for _, s := range r.subs {
		s.mu.Lock()
		st := Status{
			Name: s.s.Name, Entities: slices.Clone(s.s.Entities), Mode: s.s.Mode.String(), Start: s.s.Start.String(),
			Concurrency: s.s.Concurrency, MaxAttempts: s.s.MaxAttempts, Group: s.group, DeadLetters: s.dlq,
			Runs: s.runs, Paused: s.paused, Partitions: map[string][]int32{},
			Delivered: s.counts.delivered, Retried: s.counts.retried, DeadLettered: s.counts.deadLettered,
		}
		for e, parts := range s.lags {
			for p, l := range parts {
				st.Partitions[e] = append(st.Partitions[e], p)
				st.Lag += l
			}
			slices.Sort(st.Partitions[e])
		}
		s.mu.Unlock()
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b Status) int { return strings.Compare(a.Name, b.Name) })
	return out
}
