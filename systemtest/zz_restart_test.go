package systemtest

import (
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// Stop everything — eventfold nodes and all three brokers — and start it
// again from the data dirs: every entity is served exactly as before.
// (Runs last: it restarts the shared Kafka cluster.)
func TestWholeClusterRestart(t *testing.T) {
	needKafka(t)
	if kafkaDir == "" {
		t.Skip("needs EVENTFOLD_SYSTEMTEST_KAFKA_DIR")
	}
	app := uniqueApp("restart")
	nodes := []*proc{newProc(t, app, "n1"), newProc(t, app, "n2")}
	for _, n := range nodes {
		n.start(t)
	}
	waitReady(t, 90*time.Second, nodes...)
	acks := newAcks(t)
	produceDemo(t, app, acks, 13, 5_000, 40_000, 2000, nil)
	_, before := verify(t, app, acks, nodes, 3*time.Minute)

	for _, n := range nodes {
		n.stop(t)
	}
	start := time.Now()
	broker(t, "stop")
	for _, id := range []string{"1", "2", "3"} {
		broker(t, "start-node", id)
	}
	waitBrokers(t, 2*time.Minute)
	brokersBack := time.Since(start)
	for _, n := range nodes {
		n.start(t)
	}
	waitReady(t, 2*time.Minute, nodes...)
	serving := time.Since(start)
	_, after := verify(t, app, acks, nodes, 2*time.Minute)
	report(t, "| restart all brokers and nodes from their data dirs | %d entities | brokers back %.1fs after the stop, nodes serving again after %.1fs | before: %s; after: %s |",
		before.Nodes.Checked, brokersBack.Seconds(), serving.Seconds(), summary(before), summary(after))
}

// waitBrokers waits until every broker answers metadata with leaders.
func waitBrokers(t *testing.T, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c, err := sarama.NewClient(brokers, saramaConfig())
		if err == nil {
			n := len(c.Brokers())
			c.Close()
			if n == len(brokers) {
				return
			}
			err = errorf("%d of %d brokers", n, len(brokers))
		}
		if time.Now().After(deadline) {
			t.Fatalf("brokers not back after %v: %v", timeout, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
