package kafka

import (
	"fmt"
	"hash"
	"log/slog"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
)

// ProcessorOptions returns goka options that build every client of a processor from
// a copy of base, so no two clients share a mutable *sarama.Config and goka's
// global config is never used.
func ProcessorOptions(base *sarama.Config, tm *goka.TopicManagerConfig) []goka.ProcessorOption {
	return []goka.ProcessorOption{
		goka.WithConsumerGroupBuilder(func(brokers []string, group, clientID string) (sarama.ConsumerGroup, error) {
			return sarama.NewConsumerGroup(brokers, group, Copy(base, clientID))
		}),
		goka.WithConsumerSaramaBuilder(saramaConsumerBuilder(base)),
		goka.WithProducerBuilder(producerBuilder(base)),
		goka.WithTopicManagerBuilder(topicManagerBuilder(base, tm)),
		goka.WithBackoffBuilder(backoffBuilder),
	}
}

// ViewOptions is ProcessorOptions for goka views. Views always reconnect:
// on real Kafka a view started while its table is fresh fails with "not the
// leader" otherwise.
func ViewOptions(base *sarama.Config, tm *goka.TopicManagerConfig) []goka.ViewOption {
	return []goka.ViewOption{
		goka.WithViewConsumerSaramaBuilder(saramaConsumerBuilder(base)),
		goka.WithViewTopicManagerBuilder(topicManagerBuilder(base, tm)),
		goka.WithViewBackoffBuilder(backoffBuilder),
		goka.WithViewAutoReconnect(),
	}
}

// TopicManagerConfig returns goka's topic manager settings with the given
// replication. eventfold creates its topics itself (EnsureTopics) before goka
// looks; this only matters for what goka would create on its own.
func TopicManagerConfig(replication int) *goka.TopicManagerConfig {
	tm := goka.NewTopicManagerConfig()
	tm.Table.Replication = replication
	tm.Stream.Replication = replication
	tm.Stream.Retention = -time.Millisecond // retention.ms=-1: goka writes Milliseconds()
	// EnsureTopics verifies with errors that name the topic and the fix.
	tm.MismatchBehavior = goka.TMConfigMismatchBehaviorIgnore
	return tm
}

func saramaConsumerBuilder(base *sarama.Config) goka.SaramaConsumerBuilder {
	return func(brokers []string, clientID string) (sarama.Consumer, error) {
		return sarama.NewConsumer(brokers, Copy(base, clientID))
	}
}

func producerBuilder(base *sarama.Config) goka.ProducerBuilder {
	return func(brokers []string, clientID string, hasher func() hash.Hash32) (goka.Producer, error) {
		c := Copy(base, clientID)
		c.Producer.Partitioner = sarama.NewCustomHashPartitioner(hasher)
		return goka.NewProducer(brokers, c)
	}
}

func topicManagerBuilder(base *sarama.Config, tm *goka.TopicManagerConfig) goka.TopicManagerBuilder {
	return func(brokers []string) (goka.TopicManager, error) {
		return goka.NewTopicManager(brokers, Copy(base, "eventfold-topic-manager"), tm)
	}
}

// goka's default backoff waits 10 s after a failure; a recovering view or
// partition should retry within a second.
func backoffBuilder() (goka.Backoff, error) {
	return goka.NewSimpleBackoff(300*time.Millisecond, 5*time.Second), nil
}

// GokaLogger sends goka's log lines to slog, at info level (goka does not
// say which of its lines are errors).
func GokaLogger(l *slog.Logger) goka.Logger { return gokaLogger{l} }

type gokaLogger struct{ l *slog.Logger }

func (g gokaLogger) Print(v ...any)                 { g.l.Info(fmt.Sprint(v...)) }
func (g gokaLogger) Println(v ...any)               { g.l.Info(fmt.Sprint(v...)) }
func (g gokaLogger) Printf(format string, v ...any) { g.l.Info(fmt.Sprintf(format, v...)) }
