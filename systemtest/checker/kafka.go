package checker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ReadTopic reads every record of topic, from the start of each partition to
// its end as it was when ReadTopic began, with its own franz-go client.
func ReadTopic(ctx context.Context, brokers []string, topic string) ([]Record, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.MetadataMinAge(250*time.Millisecond))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ends, err := endOffsets(ctx, cl, topic)
	if err != nil {
		return nil, err
	}
	// next[p]: the next offset wanted from partition p (ends[p]: done).
	next := map[int32]int64{}
	start := map[int32]kgo.Offset{}
	for p, end := range ends {
		if end > 0 {
			next[p] = 0
			start[p] = kgo.NewOffset().At(0)
		}
	}
	if len(start) == 0 {
		return nil, nil
	}
	rd, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.MetadataMinAge(250*time.Millisecond),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: start}), kgo.FetchMaxWait(500*time.Millisecond))
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	var out []Record
	for len(next) > 0 {
		fs := rd.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("checker: read %s: %w (%d partitions unfinished)", topic, err, len(next))
		}
		for _, fe := range fs.Errors() {
			// Retriable errors (a leader moving) are retried by the client;
			// anything else is the reader's end.
			if !kerr.IsRetriable(fe.Err) && !errors.Is(fe.Err, context.DeadlineExceeded) {
				return nil, fmt.Errorf("checker: read %s/%d: %w", fe.Topic, fe.Partition, fe.Err)
			}
		}
		fs.EachRecord(func(r *kgo.Record) {
			n, want := next[r.Partition]
			if !want || r.Offset >= ends[r.Partition] {
				return
			}
			if r.Offset >= n {
				next[r.Partition] = r.Offset + 1
			}
			h := map[string]string{}
			for _, x := range r.Headers {
				h[x.Key] = string(x.Value)
			}
			out = append(out, Record{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset,
				Key: string(r.Key), Value: r.Value, Headers: h})
		})
		for p, n := range next {
			if n >= ends[p] {
				delete(next, p)
			}
		}
	}
	return out, nil
}

// endOffsets asks the partition leaders for each partition's end offset.
func endOffsets(ctx context.Context, cl *kgo.Client, topic string) (map[int32]int64, error) {
	var last error
	for attempt := 0; attempt < 20; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(500 * time.Millisecond):
			}
		}
		ends, err := tryEndOffsets(ctx, cl, topic)
		if err == nil {
			return ends, nil
		}
		last = err
	}
	return nil, fmt.Errorf("checker: end offsets of %s: %w", topic, last)
}

func tryEndOffsets(ctx context.Context, cl *kgo.Client, topic string) (map[int32]int64, error) {
	meta := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(topic)
	meta.Topics = append(meta.Topics, mt)
	resp, err := meta.RequestWith(ctx, cl)
	if err != nil {
		return nil, err
	}
	if len(resp.Topics) != 1 {
		return nil, fmt.Errorf("metadata: %d topics", len(resp.Topics))
	}
	if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); err != nil {
		return nil, err
	}
	lo := kmsg.NewPtrListOffsetsRequest()
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = topic
	for _, p := range resp.Topics[0].Partitions {
		lp := kmsg.NewListOffsetsRequestTopicPartition()
		lp.Partition = p.Partition
		lp.Timestamp = -1 // the end
		lt.Partitions = append(lt.Partitions, lp)
	}
	lo.Topics = append(lo.Topics, lt)
	lresp, err := lo.RequestWith(ctx, cl)
	if err != nil {
		return nil, err
	}
	ends := map[int32]int64{}
	for _, t := range lresp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return nil, fmt.Errorf("partition %d: %w", p.Partition, err)
			}
			ends[p.Partition] = p.Offset
		}
	}
	if len(ends) != len(resp.Topics[0].Partitions) || len(ends) == 0 {
		return nil, fmt.Errorf("%d end offsets for %d partitions", len(ends), len(resp.Topics[0].Partitions))
	}
	return ends, nil
}
