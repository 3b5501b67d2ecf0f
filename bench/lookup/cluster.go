package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/eventfold/eventfold"
	"github.com/eventfold/eventfold/demo"
	"github.com/eventfold/eventfold/kafka"
	"github.com/eventfold/eventfold/node"
)

// cluster is an in-process kfake cluster and the eventfold nodes on it.
type cluster struct {
	kfake   *kfake.Cluster
	brokers []string
	nodes   []*benchNode
	dir     string
	rmDir   bool
	cancel  context.CancelFunc
}

// benchNode is one running node.
type benchNode struct {
	*node.Node
	stopped chan struct{} // closed when Run returned
	err     error         // Run's result, valid once stopped is closed
}

// saramaConfig is kafka.NewConfig with the group tuned for a quick start
// (members notice a rebalance within a heartbeat of 200 ms), but with a
// session timeout long enough that a saturated 2-core machine does not
// lose a member mid-measurement. The producer flush is pinned (5 ms or
// 64 KiB, whichever first) so that loading does not depend on the shared
// default: with a byte trigger but no frequency, sarama holds a batch
// smaller than the trigger forever.
func saramaConfig() *sarama.Config {
	c := kafka.NewConfig()
	c.Producer.Flush.Frequency = 5 * time.Millisecond
	c.Producer.Flush.Bytes = 64 << 10
	c.Producer.Flush.Messages = 0
	c.Consumer.Group.Session.Timeout = 10 * time.Second
	c.Consumer.Group.Heartbeat.Interval = 200 * time.Millisecond
	c.Consumer.Group.Rebalance.Timeout = 5 * time.Second
	c.Consumer.Offsets.AutoCommit.Interval = 200 * time.Millisecond
	return c
}

// startCluster starts kfake and cfg.Nodes nodes and waits until the groups
// have settled: every partition owned, recovered, and every node's
// ownership map agreeing with the processors' assignments.
func startCluster(ctx context.Context, cfg Config, logf func(string, ...any)) (_ *cluster, err error) {
	c := &cluster{dir: cfg.DataDir}
	defer func() {
		if err != nil {
			c.close()
		}
	}()
	if c.dir == "" {
		if c.dir, err = os.MkdirTemp("", "eventfold-bench-lookup-"); err != nil {
			return nil, err
		}
		c.rmDir = true
	}
	c.kfake, err = kfake.NewCluster(
		kfake.NumBrokers(cfg.Brokers),
		kfake.GroupMinSessionTimeout(100*time.Millisecond),
	)
	if err != nil {
		return nil, fmt.Errorf("kfake: %w", err)
	}
	c.brokers = c.kfake.ListenAddrs()

	runCtx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	for i := 0; i < cfg.Nodes; i++ {
		id := fmt.Sprintf("node-%d", i+1)
		nd, err := node.New(node.Config{
			Brokers:         c.brokers,
			Entities:        demo.Entities(),
			NodeID:          id,
			DataDir:         filepath.Join(c.dir, id),
			HTTPAddr:        "127.0.0.1:0", // the advertised URL is the listener's
			Partitions:      int32(cfg.Partitions),
			Sarama:          saramaConfig(),
			Logger:          cfg.Logger,
			ShutdownTimeout: 5 * time.Second,
		})
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", id, err)
		}
		bn := &benchNode{Node: nd, stopped: make(chan struct{})}
		go func() {
			bn.err = nd.Run(runCtx)
			close(bn.stopped)
		}()
		c.nodes = append(c.nodes, bn)
	}
	start := time.Now()
	wctx, wcancel := context.WithTimeout(ctx, 2*time.Minute)
	defer wcancel()
	if err := c.poll(wctx, c.settled); err != nil {
		return nil, fmt.Errorf("waiting for the groups to settle: %w", err)
	}
	logf("%d node(s) settled in %v", cfg.Nodes, time.Since(start).Round(time.Millisecond))
	return c, nil
}

// poll calls cond every 50 ms until it returns nil, a node stops, or ctx
// ends (then it returns cond's last error).
func (c *cluster) poll(ctx context.Context, cond func(context.Context) error) error {
	for {
		for _, n := range c.nodes {
			select {
			case <-n.stopped:
				return fmt.Errorf("node %s stopped: %v", n.ID(), n.err)
			default:
			}
		}
		err := cond(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// settled is eventfoldtest.Cluster.WaitRebalanced's condition.
func (c *cluster) settled(ctx context.Context) error {
	ids := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		ids[i] = n.ID()
	}
	for _, n := range c.nodes {
		if !n.Store().Recovered() {
			return fmt.Errorf("%s not recovered", n.ID())
		}
		if err := n.Ownership().Refresh(ctx); err != nil {
			return err
		}
		snap := n.Ownership().Snapshot()
		for _, t := range n.Store().Types() {
			parts := n.Store().Partitions(t.Name())
			owners := snap.Owners[t.Name()]
			if parts == 0 || !snap.Stable[t.Name()] || int32(len(owners)) != parts {
				return fmt.Errorf("%s sees %d of %d %s partitions owned", n.ID(), len(owners), parts, t.Name())
			}
			for p, id := range owners {
				if !slices.Contains(ids, id) {
					return fmt.Errorf("%s: %s partition %d owned by unknown %s", n.ID(), t.Name(), p, id)
				}
			}
		}
	}
	for _, n := range c.nodes {
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
}

// ownershipChanges sums the nodes' ownership map change counters; it must
// not move while measuring, or some requests were answered mid-rebalance.
func (c *cluster) ownershipChanges() int64 {
	var sum int64
	for _, n := range c.nodes {
		sum += n.Ownership().Changes()
	}
	return sum
}

// owner returns the index of the node that owns key of entity, or -1.
func (c *cluster) owner(entity, key string) int {
	for i, n := range c.nodes {
		parts := n.Processor().Partitions(entity)
		if parts == 0 {
			continue
		}
		if slices.Contains(n.Processor().Assigned(entity), kafka.FNV1a.Partition(key, parts)) {
			return i
		}
	}
	return -1
}

// close stops the nodes (gracefully), kfake and removes the data.
func (c *cluster) close() error {
	var errs []error
	if c.cancel != nil {
		c.cancel()
	}
	for _, n := range c.nodes {
		select {
		case <-n.stopped:
			if n.err != nil {
				errs = append(errs, fmt.Errorf("node %s: %w", n.ID(), n.err))
			}
		case <-time.After(30 * time.Second):
			errs = append(errs, fmt.Errorf("node %s did not stop within 30s", n.ID()))
		}
	}
	if c.kfake != nil {
		c.kfake.Close()
	}
	if c.rmDir {
		errs = append(errs, os.RemoveAll(c.dir))
	}
	return errors.Join(errs...)
}

// target is one entity to look up.
type target struct {
	entity, id string
	path       string // /v1/{entity}/{id}
	needle     []byte // `"id":"{id}"`, expected in the body
	owner      int    // index of the owning node
}

// dataset is what was loaded and where it lives.
type dataset struct {
	events   int
	loaded   int      // distinct entities written
	targets  []target // entities with applied state (invalid-only ones are absent)
	owned    [][]int  // node -> indices of targets it owns
	notOwned [][]int  // node -> indices of targets it does not own
	loadTime time.Duration
	foldTime time.Duration
}

// load writes the demo data set (cfg.Entities entities, EventsPerEntity
// events each on average), waits until every owner folded its partitions
// to the last written offset, and resolves each entity's owner.
func (c *cluster) load(ctx context.Context, cfg Config, logf func(string, ...any)) (*dataset, error) {
	evs := demo.Generate(cfg.Seed, cfg.Entities, cfg.Entities*cfg.EventsPerEntity)
	if len(evs) == 0 {
		return nil, fmt.Errorf("no events generated for %d entities", cfg.Entities)
	}
	ds := &dataset{events: len(evs)}
	pr, err := kafka.NewProducer(c.brokers, saramaConfig(), kafka.FNV1a)
	if err != nil {
		return nil, err
	}
	recs := make([]kafka.Record, len(evs))
	for i, e := range evs {
		recs[i] = kafka.Record{Topic: e.Entity + "-events", Key: e.ID, Value: e.Data}
	}
	start := time.Now()
	lctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	pos, err := pr.SendAll(lctx, recs)
	pr.Close()
	if err != nil {
		return nil, fmt.Errorf("loading: %w", err)
	}
	ds.loadTime = time.Since(start)
	logf("produced %d events for %d entities in %v", len(evs), cfg.Entities, ds.loadTime.Round(time.Millisecond))

	// The last offset written to each partition, and a key in it.
	type tp struct {
		entity string
		part   int32
	}
	type last struct {
		offset int64
		key    string
	}
	ends := map[tp]last{}
	seen := map[[2]string]bool{}
	var keys [][2]string
	for i, e := range evs {
		k := tp{e.Entity, pos[i].Partition}
		if l, ok := ends[k]; !ok || pos[i].Offset > l.offset {
			ends[k] = last{pos[i].Offset, e.ID}
		}
		if ek := [2]string{e.Entity, e.ID}; !seen[ek] {
			seen[ek] = true
			keys = append(keys, ek)
		}
	}
	ds.loaded = len(keys)
	sort.Slice(keys, func(i, j int) bool {
		if keys[i][0] != keys[j][0] {
			return keys[i][0] < keys[j][0]
		}
		return keys[i][1] < keys[j][1]
	})
	for k, l := range ends {
		o := c.owner(k.entity, l.key)
		if o < 0 {
			return nil, fmt.Errorf("no owner for %s partition %d", k.entity, k.part)
		}
		if err := c.nodes[o].Processor().WaitApplied(lctx, k.entity, l.key, l.offset); err != nil {
			return nil, fmt.Errorf("waiting for %s partition %d to fold offset %d on %s: %w", k.entity, k.part, l.offset, c.nodes[o].ID(), err)
		}
	}
	ds.foldTime = time.Since(start) - ds.loadTime
	logf("folded in another %v", ds.foldTime.Round(time.Millisecond))

	ds.owned = make([][]int, len(c.nodes))
	ds.notOwned = make([][]int, len(c.nodes))
	for _, k := range keys {
		o := c.owner(k[0], k[1])
		_, err := c.nodes[o].Processor().Get(ctx, k[0], k[1])
		if errors.Is(err, eventfold.ErrNotFound) {
			continue // every event of this entity was a deliberate invalid transition
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s %s on its owner %s: %w", k[0], k[1], c.nodes[o].ID(), err)
		}
		idx := len(ds.targets)
		ds.targets = append(ds.targets, target{
			entity: k[0], id: k[1], owner: o,
			path:   "/v1/" + url.PathEscape(k[0]) + "/" + url.PathEscape(k[1]),
			needle: []byte(`"id":"` + k[1] + `"`),
		})
		for i := range c.nodes {
			if i == o {
				ds.owned[i] = append(ds.owned[i], idx)
			} else {
				ds.notOwned[i] = append(ds.notOwned[i], idx)
			}
		}
	}
	if len(ds.targets) == 0 {
		return nil, errors.New("no entity has state after the fold")
	}
	for i, n := range c.nodes {
		logf("%s owns %d of %d entities", n.ID(), len(ds.owned[i]), len(ds.targets))
	}
	return ds, nil
}
