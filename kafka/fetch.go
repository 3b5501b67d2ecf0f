package kafka

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
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

// FetchOffsets returns the records at offsets of topic/partition (in the
// order of offsets). A missing offset (deleted, compacted) is an error.
// maxBytes bounds each fetch response (a larger first batch still comes
// whole): small for one record, larger for many neighbouring ones. Only the
// records asked for are kept, each in its own memory (see EachOffset).
func (f *Fetcher) FetchOffsets(ctx context.Context, topic string, partition int32, offsets []int64, maxBytes int32) ([]Fetched, error) {
	want := append([]int64(nil), offsets...)
	slices.Sort(want)
	want = slices.Compact(want)
	got := make(map[int64]Fetched, len(want))
	err := f.EachOffset(ctx, topic, partition, want, maxBytes, func(r Fetched) bool {
		got[r.Offset] = r
		return true
	})
	if err != nil {
		return nil, err
	}
	out := make([]Fetched, len(offsets))
	for i, off := range offsets {
		out[i] = got[off]
	}
	return out, nil
}

// EachOffset calls fn with the record at each of offsets (ascending) of
// topic/partition, in order, fetching as it goes, until fn returns false.
// A missing offset (deleted, compacted) is an error. maxBytes bounds each
// fetch response as in FetchOffsets.
//
// Memory: one fetch response is held at a time. The records passed to fn
// are copied out of it (key, value, headers), so a record fn keeps does not
// keep its whole fetch response alive, and records fn was not asked about
// (other keys' events between the offsets) are dropped with the response.
func (f *Fetcher) EachOffset(ctx context.Context, topic string, partition int32, offsets []int64, maxBytes int32, fn func(Fetched) bool) error {
	if !slices.IsSorted(offsets) {
		return fmt.Errorf("kafka: EachOffset %s/%d: offsets not in ascending order", topic, partition)
	}
	for i := 0; i < len(offsets); {
		if err := ctx.Err(); err != nil {
			return err
		}
		recs, err := f.fetchFrom(topic, partition, offsets[i], maxBytes)
		if err != nil {
			return err
		}
		if len(recs) == 0 || recs[len(recs)-1].Offset < offsets[i] {
			return fmt.Errorf("kafka: %s/%d has no record at offset %d", topic, partition, offsets[i])
		}
		// A fetch starts with the whole batch holding offsets[i] and may
		// run past it; take every wanted offset it covers.
		last := recs[len(recs)-1].Offset
		for j := 0; i < len(offsets) && offsets[i] <= last; i++ {
			for recs[j].Offset < offsets[i] {
				j++
			}
			if recs[j].Offset != offsets[i] {
				return fmt.Errorf("kafka: %s/%d has no record at offset %d", topic, partition, offsets[i])
			}
			if !fn(detach(recs[j])) {
				return nil
			}
		}
	}
	return nil
}

// detach copies r's bytes, which sarama decodes as slices of the whole
// fetch response.
func detach(r Fetched) Fetched {
	r.Key = bytes.Clone(r.Key)
	r.Value = bytes.Clone(r.Value)
	if r.Headers != nil {
		hs := make([]*sarama.RecordHeader, len(r.Headers))
		for i, h := range r.Headers {
			hs[i] = &sarama.RecordHeader{Key: bytes.Clone(h.Key), Value: bytes.Clone(h.Value)}
		}
		r.Headers = hs
	}
	return r
}

// fetchFrom returns the records of one fetch at offset (a batch or more).
func (f *Fetcher) fetchFrom(topic string, partition int32, offset int64, maxBytes int32) ([]Fetched, error) {
	fr, err := f.fetch(topic, partition, offset, maxBytes)
	return fr.records, err
}

// fetched is what one fetch returned.
type fetched struct {
	records []Fetched // of the data batches, control batches left out
	end     int64     // the offset after the last batch, control ones too; -1: none
	hwm     int64     // the partition's high-water mark
}

// fetch makes one fetch at offset. An offset out of the partition's range
// is an error wrapping sarama.ErrOffsetOutOfRange, at once (no retry).
func (f *Fetcher) fetch(topic string, partition int32, offset int64, maxBytes int32) (fetched, error) {
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
		if block.Err == sarama.ErrOffsetOutOfRange {
			return fetched{}, fmt.Errorf("kafka: fetch %s/%d at %d: %w", topic, partition, offset, block.Err)
		}
		if block.Err != sarama.ErrNoError {
			lastErr = block.Err
			continue
		}
		out := fetched{end: -1, hwm: block.HighWaterMarkOffset}
		for _, rs := range block.RecordsSet {
			if rs == nil || rs.RecordBatch == nil {
				continue
			}
			b := rs.RecordBatch
			out.end = max(out.end, b.FirstOffset+int64(b.LastOffsetDelta)+1)
			if b.Control {
				continue // a transaction marker, no record of anyone's
			}
			for _, r := range b.Records {
				ts := b.FirstTimestamp.Add(r.TimestampDelta)
				if b.LogAppendTime {
					ts = b.MaxTimestamp
				}
				out.records = append(out.records, Fetched{Partition: partition, Offset: b.FirstOffset + r.OffsetDelta, Timestamp: ts, Key: r.Key, Value: r.Value, Headers: r.Headers})
			}
		}
		return out, nil
	}
	return fetched{}, fmt.Errorf("kafka: fetch %s/%d at %d: %w", topic, partition, offset, lastErr)
}

// Partitions returns the partitions of topic, in order. A topic that does
// not exist is an error wrapping sarama.ErrUnknownTopicOrPartition.
func (f *Fetcher) Partitions(topic string) ([]int32, error) {
	ps, err := f.client.Partitions(topic)
	if err != nil {
		return nil, fmt.Errorf("kafka: partitions of %s: %w", topic, err)
	}
	ps = slices.Clone(ps)
	slices.Sort(ps)
	return ps, nil
}

// HighWaterMark returns the offset the next record of topic/partition
// will get.
func (f *Fetcher) HighWaterMark(topic string, partition int32) (int64, error) {
	hwm, err := f.client.GetOffset(topic, partition, sarama.OffsetNewest)
	if err != nil {
		return 0, fmt.Errorf("kafka: high-water mark of %s/%d: %w", topic, partition, err)
	}
	return hwm, nil
}

// ReadFrom calls fn with the records of topic/partition from offset on, in
// offset order, until fn returns false or the high-water mark that its
// first fetch found is reached (records appended meanwhile wait for the
// next call): a bounded read. maxBytes bounds each fetch response as in
// FetchOffsets. An offset before the partition's first (deleted by
// retention) reads from its first; an offset past the high-water mark
// reads nothing.
//
// It returns where to go on: the offset of the record fn refused, else
// the high-water mark (offsets below it that hold no record, such as
// transaction markers, are passed over); and the high-water mark.
//
// The records passed to fn are slices of the fetch response, not copies
// (unlike EachOffset's): fn copies what it keeps.
func (f *Fetcher) ReadFrom(ctx context.Context, topic string, partition int32, offset int64, maxBytes int32, fn func(Fetched) bool) (next, hwm int64, err error) {
	hwm = -1
	for hwm < 0 || offset < hwm {
		if err := ctx.Err(); err != nil {
			return offset, hwm, err
		}
		fr, err := f.fetch(topic, partition, offset, maxBytes)
		if errors.Is(err, sarama.ErrOffsetOutOfRange) {
			oldest, oerr := f.client.GetOffset(topic, partition, sarama.OffsetOldest)
			newest, nerr := f.client.GetOffset(topic, partition, sarama.OffsetNewest)
			switch {
			case oerr != nil || nerr != nil:
				return offset, hwm, fmt.Errorf("kafka: offsets of %s/%d: %w", topic, partition, errors.Join(oerr, nerr))
			case offset < oldest:
				offset = oldest
				continue
			case offset >= newest:
				if hwm < 0 {
					hwm = newest
				}
				return min(offset, hwm), hwm, nil
			}
			return offset, hwm, err
		}
		if err != nil {
			return offset, hwm, err
		}
		if hwm < 0 {
			hwm = fr.hwm
		}
		start := offset
		for _, r := range fr.records {
			if r.Offset < offset {
				continue // the start of the batch holding offset
			}
			if r.Offset >= hwm {
				return hwm, hwm, nil
			}
			if !fn(r) {
				return r.Offset, hwm, nil
			}
			offset = r.Offset + 1
		}
		if offset = max(offset, fr.end); offset == start && offset < hwm {
			return offset, hwm, fmt.Errorf("kafka: %s/%d: a fetch at %d below the high-water mark %d returned nothing", topic, partition, offset, hwm)
		}
	}
	return min(offset, hwm), hwm, nil
}
