package processor_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eventfold/eventfold/eventfoldtest"
)

// A broker failover makes the changelog's partitions refuse writes until
// Kafka has elected new leaders: broker.session.timeout.ms (9 s by default)
// plus the election. The processor's changelog writes must retry through
// that, not give up and stop the node (goka fails the processor on the
// first write that fails for good).
func TestChangelogWritesOutlastALeaderFailover(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	r := startProcessor(t, k.Brokers, t.TempDir())

	const outage = 8 * time.Second
	var (
		mu    sync.Mutex
		until time.Time // changelog writes fail until then, from the first one
	)
	refused := answerProduce(k, isTable, kerr.NotLeaderForPartition.Code, func() bool {
		mu.Lock()
		defer mu.Unlock()
		if until.IsZero() {
			until = time.Now().Add(outage)
		}
		return time.Now().Before(until)
	})

	recs, _, versions := genCounters(t, 5, 50, 2000)
	produce(t, k.Brokers, recs)
	waitVersions(t, r.Processor, "counters", versions) // folded into the local table
	if refused.Load() == 0 {
		t.Fatal("no changelog write was refused: the test tested nothing")
	}
	// goka commits an event's offset only after its changelog write is
	// acknowledged: committed = end means every write made it.
	eventfoldtest.Eventually(t, 60*time.Second, func() error {
		select {
		case err := <-r.done:
			r.cancel, r.done = nil, nil // Run has returned: nothing to stop
			t.Fatalf("the processor stopped during the outage: %v", err)
		default:
		}
		return committedToEnd(t, k.Brokers, "eventfold-counters", "counters-events", 4)
	})
	mu.Lock()
	after := time.Since(until)
	mu.Unlock()
	if after < 0 {
		t.Fatalf("all committed %v before the outage ended: the writes were not held up", -after)
	}
	t.Logf("changelog writes refused for %v (%d produce requests); all %d events committed %v after it ended",
		outage, refused.Load(), len(recs), after.Round(time.Millisecond))
	r.stop(t)

	// The changelog alone (a new data dir) has every event's state.
	r2 := startProcessor(t, k.Brokers, t.TempDir())
	waitVersions(t, r2.Processor, "counters", versions)
}

// committedToEnd reports whether group has committed every partition of
// topic up to its end.
func committedToEnd(t *testing.T, brokers []string, group, topic string, partitions int32) error {
	t.Helper()
	client, err := sarama.NewClient(brokers, eventfoldtest.SaramaConfig())
	if err != nil {
		return err
	}
	defer client.Close()
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		return err
	}
	ps := make([]int32, partitions)
	for i := range ps {
		ps[i] = int32(i)
	}
	res, err := admin.ListConsumerGroupOffsets(group, map[string][]int32{topic: ps})
	if err != nil {
		return err
	}
	for _, p := range ps {
		end, err := client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			return err
		}
		b := res.GetBlock(topic, p)
		if b == nil || b.Offset < end {
			return fmt.Errorf("partition %d: committed %v of %d", p, b, end)
		}
	}
	return nil
}

// When a broker dies, the group coordinator on it refuses connections until
// Kafka moves the coordinator: the session ends and the rejoin fails with a
// network error. goka stops the processor on any error from a join; the
// processor must rejoin instead, and fold on.
func TestProcessorRejoinsWhileTheCoordinatorIsDown(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	r := startProcessor(t, k.Brokers, t.TempDir())
	recs, _, versions := genCounters(t, 6, 50, 1000)
	produce(t, k.Brokers, recs[:500])

	const outage = 6 * time.Second
	// The outage starts with the first heartbeat it sees, not with the
	// test: on a busy machine a window fixed in advance can pass before
	// the member's next heartbeat, and then nothing is tested.
	var mu sync.Mutex
	var until time.Time
	down := func(start bool) bool {
		mu.Lock()
		defer mu.Unlock()
		if until.IsZero() {
			if !start {
				return false
			}
			until = time.Now().Add(outage)
		}
		return time.Now().Before(until)
	}
	var kicked, refused atomic.Int64
	// The coordinator tells the member to rejoin, then drops every join.
	k.Cluster.ControlKey(int16(kmsg.Heartbeat), func(req kmsg.Request) (kmsg.Response, error, bool) {
		k.Cluster.KeepControl()
		if !down(true) {
			return nil, nil, false
		}
		kicked.Add(1)
		resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
		resp.ErrorCode = kerr.RebalanceInProgress.Code
		return resp, nil, true
	})
	k.Cluster.ControlKey(int16(kmsg.JoinGroup), func(req kmsg.Request) (kmsg.Response, error, bool) {
		k.Cluster.KeepControl()
		if !down(false) {
			return nil, nil, false
		}
		refused.Add(1)
		return nil, fmt.Errorf("coordinator down"), true // closes the connection
	})
	eventfoldtest.Eventually(t, 30*time.Second, func() error {
		if refused.Load() == 0 {
			return fmt.Errorf("no join refused yet (%d heartbeats told to rejoin)", kicked.Load())
		}
		return nil
	})
	produce(t, k.Brokers, recs[500:])
	eventfoldtest.Eventually(t, 60*time.Second, func() error {
		select {
		case err := <-r.done:
			r.cancel, r.done = nil, nil
			t.Fatalf("the processor stopped while the coordinator was down: %v", err)
		default:
		}
		return committedToEnd(t, k.Brokers, "eventfold-counters", "counters-events", 4)
	})
	if kicked.Load() == 0 || refused.Load() == 0 {
		t.Fatalf("heartbeats kicked %d, joins refused %d: the outage did not happen", kicked.Load(), refused.Load())
	}
	waitVersions(t, r.Processor, "counters", versions)
	t.Logf("%d heartbeats told to rejoin, %d joins dropped over %v; all %d events folded and committed",
		kicked.Load(), refused.Load(), outage, len(recs))
}
