package kafka

import (
	"fmt"
	"time"

	"github.com/IBM/sarama"

	"github.com/eventfold/eventfold/limits"
)

// DefaultVersion is the Kafka protocol version eventfold speaks. Kafka 4
// refuses clients older than 2.1; verified against kfake and Kafka 4.1.1.
var DefaultVersion = sarama.V3_6_0_0

// NewConfig returns the sarama configuration every eventfold client starts
// from:
//   - consumers of a new group start at the oldest offset (the events topic
//     is the source of truth; skipping history would be data loss);
//   - producers wait for all in-sync replicas and are idempotent, so a retry
//     after a broker failover cannot duplicate an event;
//   - the range assignor, which leaves Member.UserData to us (the sticky
//     assignors overwrite it, and the ownership map is read from it).
func NewConfig() *sarama.Config {
	c := sarama.NewConfig()
	c.Version = DefaultVersion
	c.ClientID = "eventfold"

	c.Consumer.Return.Errors = true
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	c.Consumer.MaxProcessingTime = time.Second
	c.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyRange()}

	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Idempotent = true
	c.Net.MaxOpenRequests = 1 // required by the idempotent producer
	// A write must outlive a broker failover: Kafka moves leadership only
	// after broker.session.timeout.ms (9 s by default) plus an election, and
	// a changelog write that gives up stops the processor. Like the Java
	// producer (retry.backoff.ms 100 → 1000 ms, delivery.timeout.ms 120 s)
	// retries back off exponentially to 1 s, for ~37 s in all.
	c.Producer.Retry.Max = producerRetries
	c.Producer.Retry.BackoffFunc = producerBackoff
	c.Producer.Return.Successes = true
	c.Producer.Return.Errors = true
	// One definition of the record limit: what the fold and the HTTP API
	// check before they produce (package limits).
	c.Producer.MaxMessageBytes = limits.RecordBytes
	c.Producer.Compression = sarama.CompressionSnappy
	c.Producer.Flush.Frequency = 5 * time.Millisecond
	c.Producer.Flush.Bytes = 64 << 10
	c.Producer.Flush.Messages = 0

	c.Metadata.Retry.Max = 10
	c.Metadata.Retry.Backoff = 250 * time.Millisecond
	return c
}

const producerRetries = 40

func producerBackoff(retries, _ int) time.Duration {
	return min(100*time.Millisecond<<min(retries, 4), time.Second)
}

// Copy returns a copy of c with its own client id: sarama clients must not
// share a *Config that someone mutates later (goka's *WithConfig builders
// write ClientID into the shared pointer).
func Copy(c *sarama.Config, clientID string) *sarama.Config {
	cp := *c
	if clientID != "" {
		cp.ClientID = clientID
	}
	return &cp
}

// Validate checks the invariants eventfold relies on and returns a
// descriptive error for a configuration that would lose or duplicate data.
func Validate(c *sarama.Config) error {
	if c.Consumer.Offsets.Initial != sarama.OffsetOldest {
		return fmt.Errorf("kafka: Consumer.Offsets.Initial must be OffsetOldest: a new consumer group would skip the event history")
	}
	if c.Producer.RequiredAcks == sarama.NoResponse {
		return fmt.Errorf("kafka: Producer.RequiredAcks=NoResponse cannot report offsets, and the table needs them")
	}
	if !c.Version.IsAtLeast(sarama.V2_1_0_0) {
		return fmt.Errorf("kafka: protocol version %s is too old: Kafka 4 refuses clients below 2.1", c.Version)
	}
	return c.Validate()
}
