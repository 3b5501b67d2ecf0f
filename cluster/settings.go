package cluster

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventfold/eventfold"
	"github.com/eventfold/eventfold/entity"
	"github.com/eventfold/eventfold/kafka"
)

// Defaults of Settings.
const (
	DefaultApp     = "eventfold"
	DefaultDataDir = "data"
)

// DefaultPartitioner is how keys map to partitions unless set: FNV-1a,
// like goka's default hasher.
var DefaultPartitioner = kafka.FNV1a

// Settings are the cluster-wide settings of a node. The zero value means
// the defaults.
type Settings struct {
	// App names the groups (<app>-<entity>) and tables. Default "eventfold".
	App string
	// DataDir holds the local tables. Default "data".
	DataDir string
	// Partitioner maps a key to its partition; every producer of the
	// events topics and every node must use the same. Default FNV-1a.
	Partitioner kafka.Partitioner
	// Sarama is the base Kafka client configuration. Default kafka.NewConfig().
	Sarama *sarama.Config
	// Logger, default: discard.
	Logger *slog.Logger
	// Registerer takes the metrics. Default: none (metrics are kept but
	// not exported).
	Registerer prometheus.Registerer
}

// WithDefaults fills what is not set.
func (s Settings) WithDefaults() Settings {
	if s.App == "" {
		s.App = DefaultApp
	}
	if s.DataDir == "" {
		s.DataDir = DefaultDataDir
	}
	if s.Partitioner == "" {
		s.Partitioner = DefaultPartitioner
	}
	if s.Sarama == nil {
		s.Sarama = kafka.NewConfig()
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return s
}

// Validate checks the settings (after WithDefaults).
func (s Settings) Validate() error {
	if !entity.NameRE.MatchString(s.App) {
		return fmt.Errorf("%w: app name %q must match %s", eventfold.ErrInvalid, s.App, entity.NameRE)
	}
	return nil
}

// Group is the goka group (and consumer group) folding entity.
func (s Settings) Group(entity string) string { return s.App + "-" + entity }

// TableTopic is the changelog topic of entity's group table (goka's naming).
func (s Settings) TableTopic(entity string) string { return s.Group(entity) + "-table" }

// HistoryTopic holds the sealed nodes of entity's history index.
func (s Settings) HistoryTopic(entity string) string { return s.Group(entity) + "-history" }

// RepartitionTopic is projection name's repartition topic: private to the
// application like its tables (no topic prefix), so two applications on one
// Kafka never share one.
func (s Settings) RepartitionTopic(name string) string { return s.App + "-" + name + "-repartition" }

// ReplicaGroup is the group read-only replicas join to announce themselves.
func (s Settings) ReplicaGroup() string { return s.App + "-replicas" }

// Registry is the registerer, or a private registry when none is set:
// metrics are always registered somewhere, and a clash is an error.
func (s Settings) Registry() prometheus.Registerer {
	if s.Registerer == nil {
		return prometheus.NewRegistry()
	}
	return s.Registerer
}

// SubscriberGroup is the consumer group of subscriber name.
func (s Settings) SubscriberGroup(name string) string { return s.App + "-sub-" + name }

// SubscriberStateTopic keeps subscriber name's copy of entity's states, as
// of its done deliveries (compacted, partitioned like the events topic).
func (s Settings) SubscriberStateTopic(name, entity string) string {
	return s.SubscriberGroup(name) + "-" + entity + "-state"
}

// SubscriberDeadLetterTopic receives the deliveries subscriber name gave
// up on.
func (s Settings) SubscriberDeadLetterTopic(name string) string {
	return s.SubscriberGroup(name) + "-dlq"
}

// SubscriberControlTopic holds whether each subscriber is paused
// (compacted, one partition).
func (s Settings) SubscriberControlTopic() string { return s.App + "-subscribers" }
