package subscriber

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/IBM/sarama"
	"github.com/eventfold/eventfold/kafka"
)

// The claim's state: the acked envelopes written to the state topic before
// the offset below them is marked, and read back when a partition is
// claimed.

// flush writes the acked envelopes and then marks the commit point; false
// means the state could not be written (nothing is marked).
func (c *claim) flush(ctx context.Context) bool {
	point := c.win.commitPoint()
	c.mu.Lock()
	recs := make([]kafka.Record, 0, len(c.dirty))
	for k := range c.dirty {
		recs = append(recs, kafka.Record{Topic: c.state, Key: k, Value: c.acked[k], Pinned: true, Partition: c.partition})
	}
	c.dirty = map[string]bool{}
	c.mu.Unlock()
	if len(recs) > 0 {
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err := c.s.r.prod.SendAll(wctx, recs)
		cancel()
		if err != nil {
			c.log.Warn("subscriber state write failed; the commit waits", slog.Any("error", err))
			c.mu.Lock()
			for _, r := range recs {
				c.dirty[r.Key] = true
			}
			c.mu.Unlock()
			return false
		}
	}
	hwm := c.cl.HighWaterMarkOffset()
	if point < 0 {
		// Nothing read yet, and no committed offset: all of it is behind.
		c.s.setLag(c.typ.Name(), c.partition, max(hwm, 0))
		return true
	}
	c.sess.MarkOffset(c.topic, c.partition, point, "")
	c.s.setLag(c.typ.Name(), c.partition, max(hwm-point, 0))
	return true
}

// restore loads the acked envelopes of the partition from the state topic
// and where delivery starts, retrying until the session ends.
func (c *claim) restore(ctx context.Context) error {
	wait := 200 * time.Millisecond
	for {
		err := c.restoreOnce(ctx)
		if err == nil {
			return nil
		}
		c.log.Warn("subscriber state restore failed; retrying", slog.Any("error", err))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

func (c *claim) restoreOnce(ctx context.Context) error {
	vals, err := c.s.r.readPartition(ctx, c.state, c.partition)
	if err != nil {
		return fmt.Errorf("restore %s/%d: %w", c.state, c.partition, err)
	}
	c.head = map[string][]byte{}
	c.held = map[string][]held{}
	c.acked = map[string][]byte{}
	c.dirty = map[string]bool{}
	c.queues = map[string]*keyQueue{}
	c.deliverFrom = -1
	for k, v := range vals {
		if k == metaKey {
			var m meta
			if err := json.Unmarshal(v, &m); err != nil {
				return fmt.Errorf("%s/%d: start record: %w", c.state, c.partition, err)
			}
			c.deliverFrom = m.DeliverFrom
			continue
		}
		c.head[k] = v
		c.acked[k] = v
	}
	if c.deliverFrom < 0 && c.s.s.Start == FromNow {
		// First run: deliver what is appended from here on, with states
		// folded from the beginning.
		hwm, err := c.s.r.client.GetOffset(c.topic, c.partition, sarama.OffsetNewest)
		if err != nil {
			return fmt.Errorf("high-water mark of %s/%d: %w", c.topic, c.partition, err)
		}
		b, _ := json.Marshal(meta{DeliverFrom: hwm})
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if _, err := c.s.r.prod.Send(wctx, kafka.Record{Topic: c.state, Key: metaKey, Value: b, Pinned: true, Partition: c.partition}); err != nil {
			return fmt.Errorf("write start of %s/%d: %w", c.state, c.partition, err)
		}
		c.deliverFrom = hwm
	}
	return nil
}

// metaKey holds a partition's start in the state topic; no entity has an
// empty id (the fold dead-letters keyless events).
const metaKey = ""

type meta struct {
	DeliverFrom int64 `json:"deliver_from"`
}
