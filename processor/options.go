package processor

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventfold/eventfold/cluster"
	"github.com/eventfold/eventfold/kafka"
	"github.com/eventfold/eventfold/limits"
)

// Option configures a Processor.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	cluster.Settings
	partitions    int32
	replication   int16
	hotStandby    bool
	memberData    []byte
	tableConfig   map[string]string
	skipTopics    bool
	startTimeout  time.Duration
	onAssign      func(entityName string, partitions []int32)
	topicPrefix   string
	history       bool
	historyFanout int
	historyBytes  int
}

func defaultConfig() config {
	return config{
		partitions:    10,
		startTimeout:  time.Minute,
		history:       true,
		historyFanout: 64,
		historyBytes:  limits.HistoryPageBytes,
	}
}

func (c *config) validate() error {
	var errs []error
	if err := c.Settings.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.partitions < 1 {
		errs = append(errs, fmt.Errorf("partitions = %d, want >= 1", c.partitions))
	}
	if c.historyFanout < 2 || c.historyFanout > 4096 {
		errs = append(errs, fmt.Errorf("history fanout = %d, want 2..4096", c.historyFanout))
	}
	if c.historyBytes < 1 {
		errs = append(errs, fmt.Errorf("history page bytes = %d, want >= 1", c.historyBytes))
	}
	if c.replication < 0 {
		errs = append(errs, fmt.Errorf("replication = %d, want >= 1 (or 0 for min(3, brokers))", c.replication))
	}
	if err := kafka.Validate(c.Sarama); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// WithSettings sets the cluster-wide settings at once (package node hands
// down one Settings to every stage); options after it override single
// fields. Its zero fields take the defaults.
func WithSettings(s cluster.Settings) Option { return optionFunc(func(c *config) { c.Settings = s }) }

// WithApp names the application; groups are "<app>-<entity>" and tables
// "<app>-<entity>-table". Default "eventfold".
func WithApp(name string) Option { return optionFunc(func(c *config) { c.App = name }) }

// WithDataDir sets where LevelDB tables live: <dir>/<group>/<table>.<partition>.
// Default "data".
func WithDataDir(dir string) Option { return optionFunc(func(c *config) { c.DataDir = dir }) }

// WithPartitions sets the partition count for topics eventfold creates.
// Existing events topics keep theirs, and tables follow their events topic.
// Default 10.
func WithPartitions(n int32) Option { return optionFunc(func(c *config) { c.partitions = n }) }

// WithReplication sets the replication factor of created topics.
// Default 0: min(3, number of brokers).
func WithReplication(n int16) Option { return optionFunc(func(c *config) { c.replication = n }) }

// WithSaramaConfig replaces the base sarama configuration (for TLS, SASL,
// tuning). Start from kafka.NewConfig(); New rejects settings that lose data.
// Default kafka.NewConfig().
func WithSaramaConfig(sc *sarama.Config) Option {
	return optionFunc(func(c *config) { c.Sarama = sc })
}

// WithPartitioner sets the key hash; it must match the producers'.
// Default kafka.FNV1a (sarama and goka); kafka.Murmur2 for Java producers.
func WithPartitioner(p kafka.Partitioner) Option {
	return optionFunc(func(c *config) { c.Partitioner = p })
}

// WithLogger sets the logger. Default: discard.
func WithLogger(l *slog.Logger) Option { return optionFunc(func(c *config) { c.Logger = l }) }

// WithRegisterer registers the processor's metrics. Default: none.
func WithRegisterer(r prometheus.Registerer) Option {
	return optionFunc(func(c *config) { c.Registerer = r })
}

// WithHotStandby keeps the partitions this node does not own warm (goka hot
// standby with recover-ahead), so taking one over after a failover needs no
// replay of the changelog. Costs disk and network for every partition.
// Default off.
func WithHotStandby() Option { return optionFunc(func(c *config) { c.hotStandby = true }) }

// WithMemberData is published in the consumer group membership
// (sarama Member.UserData) so that other nodes learn, from Kafka alone, how to
// reach this one. Package interactive sets it. Default none.
func WithMemberData(b []byte) Option { return optionFunc(func(c *config) { c.memberData = b }) }

// WithTableConfig adds topic configuration to created tables (for example
// segment.ms and min.cleanable.dirty.ratio to compact sooner).
func WithTableConfig(kv map[string]string) Option {
	return optionFunc(func(c *config) { c.tableConfig = kv })
}

// WithoutTopicCreation makes Run verify that topics exist instead of creating
// them, for clusters where applications may not create topics.
func WithoutTopicCreation() Option { return optionFunc(func(c *config) { c.skipTopics = true }) }

// WithAssignmentHook is called after each rebalance with the partitions of
// entity this node now owns (on goka's goroutine: return quickly).
func WithAssignmentHook(fn func(entityName string, partitions []int32)) Option {
	return optionFunc(func(c *config) { c.onAssign = fn })
}

// WithTopicPrefix prepends prefix to every events topic (and so to its
// dead-letter topic), for several applications or test runs on one cluster.
// Default none.
func WithTopicPrefix(prefix string) Option {
	return optionFunc(func(c *config) { c.topicPrefix = prefix })
}

// WithoutHistory turns the per-entity history index off: no
// <app>-<entity>-history topic, no ?version / ?as_of / /events queries,
// and a slightly smaller envelope. Default: history on.
func WithoutHistory() Option { return optionFunc(func(c *config) { c.history = false }) }

// WithHistoryFanout sets K, the events per sealed history node and the
// pointers per inner node (docs/history.md). Default 64.
func WithHistoryFanout(k int) Option { return optionFunc(func(c *config) { c.historyFanout = k }) }

// WithHistoryPageBytes bounds the event payload bytes of one page of
// History (GET /v1/{entity}/{id}/events): a page ends before the event that
// would take it past n bytes, and its Next continues from there. A page
// always holds at least one event, so an event larger than n comes alone.
// The events of a page are fetched within the bound: a History call holds
// at most n payload bytes plus one fetch response (up to 1 MiB, or one
// record batch). Default limits.HistoryPageBytes (4 MiB).
func WithHistoryPageBytes(n int) Option { return optionFunc(func(c *config) { c.historyBytes = n }) }
