package interactive

import (
	"context"
	"fmt"
	"time"

	"github.com/IBM/sarama"

	"github.com/eventfold/eventfold/cluster"
	"github.com/eventfold/eventfold/kafka"
)

// Announce keeps self in the replica group (cluster.Settings.ReplicaGroup:
// a group over the one-partition topic of the same name, which nobody
// writes) until ctx ends. Ownership reads the members back as standbys.
// Replicas take no partitions of the processors' groups, so one joining or
// leaving never rebalances a processor.
//
// memberData is what the node publishes: Member.Encode, or Member.Sign
// when the cluster has a secret.
func Announce(ctx context.Context, brokers []string, s cluster.Settings, memberData []byte) error {
	s = s.WithDefaults()
	sc, group := s.Sarama, s.ReplicaGroup()
	if _, err := kafka.EnsureTopics(ctx, brokers, sc, []kafka.TopicSpec{{Name: group, Kind: kafka.Table, Partitions: 1}}); err != nil {
		return err
	}
	c := kafka.Copy(sc, "eventfold-replica")
	c.Consumer.Group.Member.UserData = memberData
	cg, err := sarama.NewConsumerGroup(brokers, group, c)
	if err != nil {
		return fmt.Errorf("interactive: join %s: %w", group, err)
	}
	defer cg.Close()
	for ctx.Err() == nil {
		if err := cg.Consume(ctx, []string{group}, idleHandler{}); err != nil && ctx.Err() == nil {
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
	return nil
}

// idleHandler holds its claims without reading: membership is the point.
type idleHandler struct{}

func (idleHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (idleHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (idleHandler) ConsumeClaim(s sarama.ConsumerGroupSession, _ sarama.ConsumerGroupClaim) error {
	<-s.Context().Done()
	return nil
}
