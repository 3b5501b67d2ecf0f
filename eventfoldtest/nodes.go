package eventfoldtest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventfold/eventfold/entity"
	"github.com/eventfold/eventfold/interactive"
	"github.com/eventfold/eventfold/kafka"
	"github.com/eventfold/eventfold/node"
)

// Cluster is several eventfold nodes on one Kafka, in this process.
type Cluster struct {
	t        testing.TB
	Kafka    *Kafka
	entities []entity.Definition
	tune     func(*node.Config)

	mu    sync.Mutex
	nodes []*Node
	seq   int
}

// Node is one running node of a Cluster.
type Node struct {
	*node.Node
	Client  *interactive.Client
	DataDir string
	front   *front
	cancel  context.CancelFunc
	done    chan struct{} // closed when Run has returned
	err     error         // what Run returned, once done is closed
	stopped atomic.Bool
}

// Exited reports whether the node's Run has returned, and with what.
func (n *Node) Exited() (bool, error) {
	select {
	case <-n.done:
		return true, n.err
	default:
		return false, nil
	}
}

// Isolate makes the node unreachable over HTTP (for clients and for other
// nodes: connections are cut) while it stays in its consumer groups, like
// a network partition between the nodes that Kafka does not see.
func (n *Node) Isolate(on bool) { n.front.isolated.Store(on) }

// StartNodes starts n nodes folding entities on k and waits until the
// group has settled (every partition owned, every node recovered). tune, if
// not nil, adjusts each node's configuration before it starts.
func StartNodes(t testing.TB, k *Kafka, n int, entities []entity.Definition, tune func(*node.Config)) *Cluster {
	t.Helper()
	c := &Cluster{t: t, Kafka: k, entities: entities, tune: tune}
	for i := 0; i < n; i++ {
		c.AddNode()
	}
	c.WaitRebalanced(60 * time.Second)
	return c
}

// AddNode starts one more node (fresh data dir) without waiting for the
// rebalance. tune adjusts this node's configuration after the cluster's.
func (c *Cluster) AddNode(tune ...func(*node.Config)) *Node {
	c.t.Helper()
	c.mu.Lock()
	c.seq++
	id := fmt.Sprintf("node-%d", c.seq)
	c.mu.Unlock()
	dir := c.t.TempDir()
	fr := newFront(c.t)
	cfg := node.Config{
		AdvertiseURL:      fr.url,
		Brokers:           c.Kafka.Brokers,
		Entities:          c.entities,
		NodeID:            id,
		DataDir:           dir,
		HTTPAddr:          "127.0.0.1:0",
		Partitions:        12,
		Sarama:            SaramaConfig(),
		OwnershipInterval: 200 * time.Millisecond,
		LookupDeadline:    8 * time.Second,
		ShutdownTimeout:   5 * time.Second,
	}
	if c.tune != nil {
		c.tune(&cfg)
	}
	for _, f := range tune {
		f(&cfg)
	}
	nd, err := node.New(cfg)
	if err != nil {
		c.t.Fatalf("node %s: %v", id, err)
	}
	fr.target(nd.ListenURL())
	ctx, cancel := context.WithCancel(context.Background())
	tn := &Node{Node: nd, Client: interactive.NewClient(nd.URL(), cfg.Token), DataDir: dir, front: fr, cancel: cancel, done: make(chan struct{})}
	go func() {
		tn.err = nd.Run(ctx)
		close(tn.done)
	}()
	c.t.Cleanup(func() { tn.Stop(c.t) })
	c.mu.Lock()
	c.nodes = append(c.nodes, tn)
	c.mu.Unlock()
	return tn
}

// Nodes returns the nodes that have not been stopped.
func (c *Cluster) Nodes() []*Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*Node
	for _, n := range c.nodes {
		if !n.stopped.Load() {
			out = append(out, n)
		}
	}
	return out
}

// Stop shuts the node down gracefully (it leaves its groups) and waits.
func (n *Node) Stop(t testing.TB) {
	t.Helper()
	if !n.stopped.CompareAndSwap(false, true) {
		return
	}
	n.cancel()
	select {
	case <-n.done:
		if n.err != nil {
			t.Errorf("node %s: %v", n.ID(), n.err)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("node %s did not stop within 30s", n.ID())
	}
}

// WaitRebalanced waits until, on every running node, the ownership map
// assigns every partition of every entity type to a running node, and every
// node has recovered its partitions.
func (c *Cluster) WaitRebalanced(timeout time.Duration) {
	c.t.Helper()
	Eventually(c.t, timeout, func() error {
		nodes := c.Nodes()
		ids := make([]string, len(nodes))
		for i, n := range nodes {
			ids[i] = n.ID()
		}
		var procIDs []string
		for _, n := range nodes {
			if n.Processor() != nil {
				procIDs = append(procIDs, n.ID())
			}
		}
		ids = procIDs
		for _, n := range nodes {
			if !n.Store().Recovered() {
				return fmt.Errorf("%s not recovered", n.ID())
			}
			if err := n.Ownership().Refresh(context.Background()); err != nil {
				return err
			}
			snap := n.Ownership().Snapshot()
			for _, t := range n.Store().Types() {
				parts := n.Store().Partitions(t.Name())
				owners := snap.Owners[t.Name()]
				if !snap.Stable[t.Name()] || int32(len(owners)) != parts {
					return fmt.Errorf("%s sees %d of %d %s partitions owned", n.ID(), len(owners), parts, t.Name())
				}
				for p, id := range owners {
					if !slices.Contains(ids, id) {
						return fmt.Errorf("%s: %s partition %d owned by %s, not running", n.ID(), t.Name(), p, id)
					}
				}
			}
		}
		// Each node's own assignment agrees with what the others see.
		for _, n := range nodes {
			snap := n.Ownership().Snapshot()
			for _, t := range n.Store().Types() {
				for _, p := range n.Assigned(t.Name()) {
					if snap.Owners[t.Name()][p] != n.ID() {
						return fmt.Errorf("%s owns %s/%d but the map says %s", n.ID(), t.Name(), p, snap.Owners[t.Name()][p])
					}
				}
			}
		}
		return nil
	})
}

// Owner returns the running node that owns key of entity.
func (c *Cluster) Owner(entity, key string, p kafka.Partitioner) *Node {
	for _, n := range c.Nodes() {
		if n.Processor() == nil {
			continue
		}
		parts := n.Processor().Partitions(entity)
		if parts == 0 {
			continue
		}
		if slices.Contains(n.Processor().Assigned(entity), p.Partition(key, parts)) {
			return n
		}
	}
	return nil
}
