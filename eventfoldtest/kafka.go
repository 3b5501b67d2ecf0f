package eventfoldtest

import (
	"context"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/eventfold/eventfold/kafka"
)

// Kafka is an in-process Kafka-protocol cluster.
type Kafka struct {
	Cluster *kfake.Cluster
	Brokers []string
}

// NewKafka starts a kfake cluster with n brokers, closed when the test ends.
func NewKafka(t testing.TB, n int, opts ...kfake.Opt) *Kafka {
	t.Helper()
	opts = append([]kfake.Opt{
		kfake.NumBrokers(n),
		kfake.GroupMinSessionTimeout(100 * time.Millisecond),
	}, opts...)
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return &Kafka{Cluster: c, Brokers: c.ListenAddrs()}
}

// SaramaConfig is kafka.NewConfig with group timeouts short enough for tests:
// a node that dies is noticed in about two seconds, not ten.
func SaramaConfig() *sarama.Config {
	c := kafka.NewConfig()
	c.Consumer.Group.Session.Timeout = 2 * time.Second
	c.Consumer.Group.Heartbeat.Interval = 200 * time.Millisecond
	c.Consumer.Group.Rebalance.Timeout = 5 * time.Second
	c.Consumer.Offsets.AutoCommit.Interval = 200 * time.Millisecond
	c.Metadata.RefreshFrequency = time.Second
	return c
}

// Context returns a context cancelled when the test ends or after d.
func Context(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// Eventually polls cond every 20 ms until it returns nil, and fails the test
// with cond's last error after timeout.
func Eventually(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %v: %v", timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
