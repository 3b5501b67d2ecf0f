package kafka

import (
	"context"
	"fmt"
	"sort"

	"github.com/IBM/sarama"
)

// ReadAll reads every record of topic that exists when it is called (up to
// each partition's high-water mark), ordered by partition then offset. It is
// for checkers, tools and tests: a whole topic is held in memory.
func ReadAll(ctx context.Context, brokers []string, base *sarama.Config, topic string) ([]*sarama.ConsumerMessage, error) {
	client, err := sarama.NewClient(brokers, Copy(base, "eventfold-reader"))
	if err != nil {
		return nil, err
	}
	defer client.Close()
	parts, err := client.Partitions(topic)
	if err != nil {
		return nil, fmt.Errorf("kafka: partitions of %s: %w", topic, err)
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return nil, err
	}
	defer consumer.Close()
	var out []*sarama.ConsumerMessage
	for _, p := range parts {
		msgs, err := ReadPartition(ctx, client, consumer, topic, p)
		if err != nil {
			return nil, err
		}
		out = append(out, msgs...)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Partition != out[j].Partition {
			return out[i].Partition < out[j].Partition
		}
		return out[i].Offset < out[j].Offset
	})
	return out, nil
}

// ReadPartition reads partition p of topic from its oldest record up to
// its high-water mark when called.
func ReadPartition(ctx context.Context, client sarama.Client, consumer sarama.Consumer, topic string, p int32) ([]*sarama.ConsumerMessage, error) {
	hwm, err := client.GetOffset(topic, p, sarama.OffsetNewest)
	if err != nil {
		return nil, fmt.Errorf("kafka: high-water mark of %s/%d: %w", topic, p, err)
	}
	oldest, err := client.GetOffset(topic, p, sarama.OffsetOldest)
	if err != nil {
		return nil, fmt.Errorf("kafka: oldest offset of %s/%d: %w", topic, p, err)
	}
	if hwm <= oldest {
		return nil, nil
	}
	pc, err := consumer.ConsumePartition(topic, p, oldest)
	if err != nil {
		return nil, fmt.Errorf("kafka: consume %s/%d: %w", topic, p, err)
	}
	defer pc.Close()
	var out []*sarama.ConsumerMessage
	for {
		select {
		case m := <-pc.Messages():
			out = append(out, m)
			if m.Offset+1 >= hwm {
				return out, nil
			}
		case err := <-pc.Errors():
			return nil, fmt.Errorf("kafka: read %s/%d: %w", topic, p, err)
		case <-ctx.Done():
			return nil, fmt.Errorf("kafka: read %s/%d at %d of %d: %w", topic, p, len(out), hwm, ctx.Err())
		}
	}
}
