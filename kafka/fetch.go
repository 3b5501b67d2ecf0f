package kafka

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/IBM/sarama"
)

// Fetched is one record read by offset.
type Fetched struct {
	Partition int32
	Offset    int64
	Timestamp time.Time
	Key       []byte
	Value     []byte
	Headers   []*sarama.RecordHeader
}

// Fetcher reads records by offset with plain Fetch requests to the
// partition leader: no consumer group, no session, one round trip per
// batch of neighbouring records.
type Fetcher struct {
	client sarama.Client
}

// NewFetcher connects a fetcher.
func NewFetcher(brokers []string, base *sarama.Config) (*Fetcher, error) {
	c, err := sarama.NewClient(brokers, Copy(base, "eventfold-fetcher"))
	if err != nil {
		return nil, err
	}
	return &Fetcher{client: c}, nil
}

// Close closes the connections.
func (f *Fetcher) Close() error { return f.client.Close() }

// FetchOffsets returns the records at offsets of topic/partition (in
// offset order). A missing offset (deleted, compacted) is an error.
// maxBytes bounds each fetch response (a larger first batch still comes
// whole): small for one record, larger for many neighbouring ones.
func (f *Fetcher) FetchOffsets(ctx context.Context, topic string, partition int32, offsets []int64, maxBytes int32) ([]Fetched, error) {
	want := append([]int64(nil), offsets...)
	sort.Slice(want, func(i, j int) bool { return want[i] < want[j] })
	got := make(map[int64]Fetched, len(want))
	for _, off := range want {
		if _, ok := got[off]; ok {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		recs, err := f.fetchFrom(topic, partition, off, maxBytes)
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			got[r.Offset] = r
		}
		if _, ok := got[off]; !ok {
			return nil, fmt.Errorf("kafka: %s/%d has no record at offset %d", topic, partition, off)
		}
	}
	out := make([]Fetched, len(offsets))
	for i, off := range offsets {
		out[i] = got[off]
	}
	return out, nil
}

// fetchFrom returns the records of one fetch at offset (a batch or more).
func (f *Fetcher) fetchFrom(topic string, partition int32, offset int64, maxBytes int32) ([]Fetched, error) {
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		if attempt > 0 {
			_ = f.client.RefreshMetadata(topic)
			time.Sleep(100 * time.Millisecond)
		}
		broker, err := f.client.Leader(topic, partition)
		if err != nil {
			lastErr = err
			continue
		}
		req := &sarama.FetchRequest{Version: 11, MaxWaitTime: 0, MinBytes: 1, MaxBytes: maxBytes, Isolation: sarama.ReadUncommitted}
		req.AddBlock(topic, partition, offset, maxBytes, -1)
		resp, err := broker.Fetch(req)
		if err != nil {
			lastErr = err
			continue
		}
		block := resp.GetBlock(topic, partition)
		if block == nil {
			lastErr = fmt.Errorf("no block for %s/%d", topic, partition)
			continue
		}
		if block.Err != sarama.ErrNoError {
			lastErr = block.Err
			continue
		}
		var out []Fetched
		for _, rs := range block.RecordsSet {
			if rs == nil || rs.RecordBatch == nil {
				continue
			}
			b := rs.RecordBatch
			for _, r := range b.Records {
				ts := b.FirstTimestamp.Add(r.TimestampDelta)
				if b.LogAppendTime {
					ts = b.MaxTimestamp
				}
				out = append(out, Fetched{Partition: partition, Offset: b.FirstOffset + r.OffsetDelta, Timestamp: ts, Key: r.Key, Value: r.Value, Headers: r.Headers})
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("kafka: fetch %s/%d at %d: %w", topic, partition, offset, lastErr)
}
