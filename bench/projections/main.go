// Command projections measures the demo's projections (customer-orders
// from orders, users-by-role from users: demo/projections) next to the
// entity fold, and the latency of list pages, on an in-process kfake
// broker in this process (package node directly, as bench/subscribers).
//
// Fold: a new broker gets -events demo events (orders and users,
// demo.Generate); one node folds them with the entity types only, then, on
// another new broker with the same events, one node with both projections.
// Times run from the node's start (before Run) to:
//   - the entity fold has handled every event (applied, dead-lettered or
//     skipped, counted by the processor's counters; exact);
//   - a projection's re-keying is done: its group (<app>-sub-proj-<name>)
//     has committed the end of every source partition, so every input was
//     acknowledged by the broker (the subscriber flushes every 500 ms and
//     the group commits every 200 ms: this is late by up to ~0.7 s);
//   - a projection is folded: re-keying done and its fold has handled every
//     record of <name>-repartition (the high-water marks read after the
//     re-keying finished).
//
// Lists: a second node joins the second broker; once both own partitions
// of every type, are recovered and every group has committed the end of
// its topics, it pages (100 items, with states) through GET /v1/orders,
// GET /v1/users and GET /v1/projections/customer-orders, -passes times
// from each node, and reports the latency per page. The listings are
// checked: ids in order without repeats, the same count every pass, the
// entity counts equal to the entities with state (a read on the owner of
// each generated id), and customer-orders and users-by-role equal to what
// the listed orders and users say they should be.
//
//	go run ./bench/projections
//	go run ./bench/projections -events 50000 -entities 5000 -passes 1
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/eventfold/eventfold"
	"github.com/eventfold/eventfold/bench/internal/cputime"
	"github.com/eventfold/eventfold/cluster"
	"github.com/eventfold/eventfold/demo"
	"github.com/eventfold/eventfold/demo/orders"
	"github.com/eventfold/eventfold/demo/projections"
	"github.com/eventfold/eventfold/interactive"
	"github.com/eventfold/eventfold/kafka"
	"github.com/eventfold/eventfold/node"
	"github.com/eventfold/eventfold/projection"
)

// projSource is a demo projection and the entity type it reads.
type projSource struct{ name, source string }

var projs = []projSource{
	{projections.CustomerOrders.Name, "orders"},
	{projections.UsersByRole.Name, "users"},
}

// cpuprofile is the -cpuprofile file, "" for none.
var cpuprofile string

// settings names the groups and topics the nodes use (the defaults).
var settings = cluster.Settings{}.WithDefaults()

func main() {
	events := flag.Int("events", 200_000, "demo events to append")
	entities := flag.Int("entities", 20_000, "demo entities")
	partitions := flag.Int("partitions", 12, "partitions of every topic")
	passes := flag.Int("passes", 3, "passes over each listing from each node")
	limit := flag.Int("limit", 100, "items per list page")
	lists := flag.Bool("lists", true, "measure the list pages on 2 nodes")
	flag.StringVar(&cpuprofile, "cpuprofile", "", "write a CPU profile of the fold with projections (node start → all folded) to this file")
	flag.Parse()
	if err := run(*events, *entities, *partitions, *passes, *limit, *lists); err != nil {
		fmt.Fprintln(os.Stderr, "projections:", err)
		os.Exit(1)
	}
}

func run(events, entities, partitions, passes, limit int, lists bool) error {
	logf := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, args...)...)
	}
	all := demo.Generate(1, entities, events)
	if len(all) == 0 {
		return errors.New("no events generated")
	}
	a, err := measureFold(all, partitions, false, logf)
	if err != nil {
		return fmt.Errorf("entities only: %w", err)
	}
	a.env.close()
	b, err := measureFold(all, partitions, true, logf)
	if err != nil {
		return fmt.Errorf("with projections: %w", err)
	}
	defer b.env.close()
	var lrows []listRow
	var checks []string
	var listNote string
	if lists {
		if lrows, checks, listNote, err = measureLists(b.env, all, passes, limit, logf); err != nil {
			return fmt.Errorf("lists: %w", err)
		}
	}

	fmt.Printf("Written by `go run ./bench/projections -events %d -entities %d -partitions %d -passes %d -limit %d` on %s; %d CPUs, %s; nodes and an in-process kfake broker in one process.\n\n",
		events, entities, partitions, passes, limit, time.Now().UTC().Format("2006-01-02 15:04 MST"), runtime.NumCPU(), runtime.Version())
	fmt.Println("**Fold** (one node, node start → caught up):")
	fmt.Println()
	fmt.Println("| run | events | entity fold caught up s | entity events/s | projection | inputs | re-keying done s | projection folded s | inputs/s (node start → folded) | process CPU s (node start → all done) | other processes' CPU s |")
	fmt.Println("|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|")
	fmt.Printf("| entities only | %d | %.1f | **%.0f** | — | — | — | — | — | %.1f | %.1f |\n",
		a.events, a.entitySeconds, float64(a.events)/a.entitySeconds, a.cpuSeconds, a.otherSeconds)
	for i, p := range b.projs {
		run, ev, es, eps, cpu, other := "", "", "", "", "", ""
		if i == 0 {
			run, ev, es, eps = "entities + both projections", fmt.Sprint(b.events), fmt.Sprintf("%.1f", b.entitySeconds),
				fmt.Sprintf("**%.0f**", float64(b.events)/b.entitySeconds)
			cpu, other = fmt.Sprintf("%.1f", b.cpuSeconds), fmt.Sprintf("%.1f", b.otherSeconds)
		}
		fmt.Printf("| %s | %s | %s | %s | %s (from %s) | %d | %.1f | %.1f | %.0f | %s | %s |\n",
			run, ev, es, eps, p.name, p.source, p.inputs, p.rekeySeconds, p.doneSeconds, float64(p.inputs)/p.doneSeconds, cpu, other)
	}
	var inputs int64
	for _, p := range b.projs {
		inputs += p.inputs
	}
	fmt.Printf("| both projections | | | | | %d | | %.1f | **%.0f** | | |\n", inputs, b.allSeconds, float64(inputs)/b.allSeconds)
	fmt.Println()
	fmt.Printf("Entity fold: %d events handled in each run (%d applied, %d dead-lettered with projections; %d applied, %d dead-lettered without). Projection folds: ",
		b.events, b.entityApplied, b.entityDead, a.entityApplied, a.entityDead)
	for i, p := range b.projs {
		if i > 0 {
			fmt.Print("; ")
		}
		fmt.Printf("%s %d inputs, %d applied, %d skipped as duplicates, %d dead-lettered, re-keying lag %d over %d source partitions when its group had committed their ends",
			p.name, p.inputs, p.applied, p.skipped, p.dead, p.rekeyLag, p.rekeyLagSeries)
	}
	fmt.Printf(". CPU: %.1f s with entities only, %.1f s with projections (%.1f s of it by the time the entity fold had caught up). Other processes' CPU: what the rest of the machine used meanwhile (/proc/stat minus this process).\n",
		a.cpuSeconds, b.cpuSeconds, b.cpuAtEntity)
	if !lists {
		return nil
	}
	fmt.Println()
	fmt.Printf("**List pages** (2 nodes, %d items a page with states, %s):\n\n", limit, listNote)
	fmt.Println("| listing | asked | passes | pages a pass | items a pass | forwards a page | p50 ms | p90 ms | p99 ms | max ms |")
	fmt.Println("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range lrows {
		fmt.Printf("| `%s` | %s | %d | %d | %d | %.2f | %.2f | %.2f | %.2f | %.2f |\n", r.path, r.asked, r.passes, r.pages, r.items,
			r.forwardsPerPage, ms(quantile(r.lat, 0.5)), ms(quantile(r.lat, 0.9)), ms(quantile(r.lat, 0.99)), ms(quantile(r.lat, 1)))
	}
	fmt.Println()
	fmt.Println("Checks: " + strings.Join(checks, "; ") + ".")
	return nil
}

// env is a kfake broker with the demo events and the nodes on it.
type env struct {
	kfake   *kfake.Cluster
	brokers []string
	client  sarama.Client
	admin   sarama.ClusterAdmin
	dir     string
	ends    map[string][]int64 // events topic -> partition -> high-water mark
	nodes   []*benchNode
	cancel  context.CancelFunc
	ctx     context.Context
}

type benchNode struct {
	*node.Node
	reg     *prometheus.Registry
	stopped chan struct{}
	err     error
}

// saramaConfig is kafka.NewConfig with the group tuned as in bench/lookup:
// quick rebalances, commits every 200 ms.
func saramaConfig() *sarama.Config {
	c := kafka.NewConfig()
	c.Consumer.Group.Session.Timeout = 10 * time.Second
	c.Consumer.Group.Heartbeat.Interval = 200 * time.Millisecond
	c.Consumer.Group.Rebalance.Timeout = 5 * time.Second
	c.Consumer.Offsets.AutoCommit.Interval = 200 * time.Millisecond
	return c
}

// newEnv starts kfake and appends the events.
func newEnv(all []demo.Event, partitions int) (_ *env, err error) {
	e := &env{ends: map[string][]int64{}}
	defer func() {
		if err != nil {
			e.close()
		}
	}()
	e.ctx, e.cancel = context.WithCancel(context.Background())
	if e.dir, err = os.MkdirTemp("", "eventfold-bench-projections-"); err != nil {
		return nil, err
	}
	if e.kfake, err = kfake.NewCluster(kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(100*time.Millisecond)); err != nil {
		return nil, err
	}
	e.brokers = e.kfake.ListenAddrs()
	sc := saramaConfig()
	var specs []kafka.TopicSpec
	for _, t := range []string{"orders-events", "users-events"} {
		specs = append(specs, kafka.TopicSpec{Name: t, Kind: kafka.Events, Partitions: int32(partitions), Replication: 1})
		e.ends[t] = make([]int64, partitions)
	}
	if _, err := kafka.EnsureTopics(e.ctx, e.brokers, sc, specs); err != nil {
		return nil, err
	}
	pr, err := kafka.NewProducer(e.brokers, sc, kafka.FNV1a)
	if err != nil {
		return nil, err
	}
	defer pr.Close()
	for i := 0; i < len(all); i += 5000 {
		var recs []kafka.Record
		for _, ev := range all[i:min(i+5000, len(all))] {
			recs = append(recs, kafka.Record{Topic: ev.Entity + "-events", Key: ev.ID, Value: ev.Data})
		}
		pos, err := pr.SendAll(e.ctx, recs)
		if err != nil {
			return nil, err
		}
		for j, p := range pos {
			e.ends[recs[j].Topic][p.Partition] = max(e.ends[recs[j].Topic][p.Partition], p.Offset+1)
		}
	}
	if e.client, err = sarama.NewClient(e.brokers, kafka.Copy(sc, "bench-projections")); err != nil {
		return nil, err
	}
	if e.admin, err = sarama.NewClusterAdminFromClient(e.client); err != nil {
		return nil, err
	}
	return e, nil
}

// startNode starts a node on e (Run in the background).
func (e *env) startNode(id string, partitions int, withProjections bool) (*benchNode, error) {
	cfg := node.Config{
		Brokers: e.brokers, Entities: demo.Entities(), NodeID: id, DataDir: filepath.Join(e.dir, id),
		HTTPAddr: "127.0.0.1:0", Partitions: int32(partitions), Sarama: saramaConfig(),
		Registry: prometheus.NewRegistry(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		ShutdownTimeout: 5 * time.Second,
	}
	if withProjections {
		cfg.Projections = projections.All()
	}
	n, err := node.New(cfg)
	if err != nil {
		return nil, err
	}
	bn := &benchNode{Node: n, reg: cfg.Registry, stopped: make(chan struct{})}
	go func() {
		bn.err = n.Run(e.ctx)
		close(bn.stopped)
	}()
	e.nodes = append(e.nodes, bn)
	return bn, nil
}

// alive returns an error if a node stopped.
func (e *env) alive() error {
	for _, n := range e.nodes {
		select {
		case <-n.stopped:
			return fmt.Errorf("node %s stopped: %v", n.ID(), n.err)
		default:
		}
	}
	return nil
}

func (e *env) close() {
	if e.cancel != nil {
		e.cancel()
	}
	for _, n := range e.nodes {
		select {
		case <-n.stopped:
		case <-time.After(30 * time.Second):
			fmt.Fprintf(os.Stderr, "projections: node %s did not stop within 30 s\n", n.ID())
		}
	}
	if e.admin != nil {
		e.admin.Close() // closes the client too
	} else if e.client != nil {
		e.client.Close()
	}
	if e.kfake != nil {
		e.kfake.Close()
	}
	if e.dir != "" {
		os.RemoveAll(e.dir)
	}
}

// hwms returns the high-water marks of topic's partitions (0 for a topic
// that does not exist yet).
func (e *env) hwms(topic string, partitions int) ([]int64, error) {
	out := make([]int64, partitions)
	for p := range out {
		h, err := e.client.GetOffset(topic, int32(p), sarama.OffsetNewest)
		if errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out[p] = h
	}
	return out, nil
}

// committedAtEnd reports whether group has committed ends[p] for every
// partition p of topic.
func (e *env) committedAtEnd(group, topic string, ends []int64) (bool, error) {
	ps := make([]int32, len(ends))
	for i := range ps {
		ps[i] = int32(i)
	}
	r, err := e.admin.ListConsumerGroupOffsets(group, map[string][]int32{topic: ps})
	if errors.Is(err, sarama.ErrGroupIDNotFound) {
		return false, nil // the group has not joined yet
	}
	if err != nil {
		return false, err
	}
	for p, end := range ends {
		if end == 0 {
			continue // an empty partition: nothing to commit
		}
		b := r.GetBlock(topic, int32(p))
		if b == nil || b.Err != sarama.ErrNoError || b.Offset < end {
			return false, nil
		}
	}
	return true, nil
}

// handled is what the fold of entityName on n has done with its records:
// applied, and not applied (dead letters, redeliveries, Evolve's skips,
// command events rejected). Each record the fold takes counts once.
type handled struct{ applied, skipped, dead, other int64 }

func (h handled) total() int64 { return h.applied + h.skipped + h.dead + h.other }

func countHandled(reg *prometheus.Registry, entityName string) handled {
	var h handled
	mfs, err := reg.Gather()
	if err != nil {
		return h
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			match := false
			for _, l := range m.GetLabel() {
				if l.GetName() == "entity" && l.GetValue() == entityName {
					match = true
				}
			}
			if !match || m.GetCounter() == nil {
				continue
			}
			v := int64(m.GetCounter().GetValue())
			switch mf.GetName() {
			case "eventfold_processor_events_folded_total":
				h.applied += v
			case "eventfold_processor_events_skipped_total":
				h.skipped += v
			case "eventfold_processor_dead_letters_total":
				h.dead += v
			case "eventfold_processor_events_redelivered_total", "eventfold_processor_command_events_rejected_total":
				h.other += v
			}
		}
	}
	return h
}

// gauge sums the values of the gauge name on reg whose labels include
// every pair of want, and counts its series.
func gauge(reg *prometheus.Registry, name string, want map[string]string) (sum, series int) {
	for _, m := range matching(reg, name, want) {
		sum += int(m.GetGauge().GetValue())
		series++
	}
	return sum, series
}

// counter sums the values of the counter name on reg whose labels include
// every pair of want.
func counter(reg *prometheus.Registry, name string, want map[string]string) float64 {
	var sum float64
	for _, m := range matching(reg, name, want) {
		sum += m.GetCounter().GetValue()
	}
	return sum
}

// matching are the series of name on reg whose labels include every pair
// of want (none if reg cannot be gathered).
func matching(reg *prometheus.Registry, name string, want map[string]string) []*dto.Metric {
	mfs, err := reg.Gather()
	if err != nil {
		return nil
	}
	var out []*dto.Metric
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for k, v := range want {
				found := false
				for _, l := range m.GetLabel() {
					if l.GetName() == k && l.GetValue() == v {
						found = true
					}
				}
				if !found {
					continue metrics
				}
			}
			out = append(out, m)
		}
	}
	return out
}

type projResult struct {
	name, source              string
	inputs                    int64
	applied, skipped, dead    int64
	rekeySeconds, doneSeconds float64
	rekeyDone, done           bool
	rekeyLag, rekeyLagSeries  int // eventfold_subscriber_lag of proj-<name> when the re-keying was done
	repartitionEnds           []int64
}

type foldResult struct {
	env                       *env
	events                    int
	entitySeconds             float64
	entityApplied, entityDead int64
	projs                     []*projResult
	allSeconds                float64
	cpuSeconds, cpuAtEntity   float64
	otherSeconds              float64 // the rest of the machine's CPU meanwhile
	entityDone                bool
}

// measureFold loads the events on a new broker and times one node folding
// them. With projections, the node and broker stay up (for the lists).
func measureFold(all []demo.Event, partitions int, withProjections bool, logf func(string, ...any)) (*foldResult, error) {
	e, err := newEnv(all, partitions)
	if err != nil {
		return nil, err
	}
	res := &foldResult{env: e, events: len(all)}
	fail := func(err error) (*foldResult, error) { e.close(); return nil, err }
	if withProjections {
		for _, p := range projs {
			res.projs = append(res.projs, &projResult{name: p.name, source: p.source})
		}
	}
	logf("loaded %d events; starting node-1 (projections: %v)", len(all), withProjections)
	if withProjections && cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			return fail(err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fail(err)
		}
		defer pprof.StopCPUProfile()
	}
	cpu0, busy0 := cputime.Process(), cputime.Machine()
	start := time.Now()
	n, err := e.startNode("node-1", partitions, withProjections)
	if err != nil {
		return fail(err)
	}
	deadline := start.Add(30 * time.Minute)
	for {
		if err := e.alive(); err != nil {
			return fail(err)
		}
		if time.Now().After(deadline) {
			return fail(errors.New("not caught up within 30 minutes"))
		}
		time.Sleep(50 * time.Millisecond)
		now := time.Since(start).Seconds()
		if !res.entityDone {
			o, u := countHandled(n.reg, "orders"), countHandled(n.reg, "users")
			if o.total()+u.total() >= int64(res.events) {
				res.entityDone, res.entitySeconds = true, now
				res.cpuAtEntity = (cputime.Process() - cpu0).Seconds()
				res.entityApplied, res.entityDead = o.applied+u.applied, o.dead+u.dead
				if o.total()+u.total() != int64(res.events) {
					return fail(fmt.Errorf("the entity fold handled %d records of %d events", o.total()+u.total(), res.events))
				}
				logf("entity fold caught up in %.1f s", now)
			}
		}
		allDone := res.entityDone
		for _, p := range res.projs {
			if p.done {
				continue
			}
			allDone = false
			if !p.rekeyDone {
				ok, err := e.committedAtEnd(settings.SubscriberGroup(projection.SubscriberName(p.name)), p.source+"-events", e.ends[p.source+"-events"])
				if err != nil {
					return fail(fmt.Errorf("offsets of the re-keying of %s: %w", p.name, err))
				}
				if !ok {
					continue
				}
				p.rekeyDone, p.rekeySeconds = true, now
				p.rekeyLag, p.rekeyLagSeries = gauge(n.reg, "eventfold_subscriber_lag", map[string]string{"subscriber": projection.SubscriberName(p.name)})
				// Every input is written: the high-water marks are final.
				if p.repartitionEnds, err = e.hwms(settings.RepartitionTopic(p.name), partitions); err != nil {
					return fail(err)
				}
				for _, h := range p.repartitionEnds {
					p.inputs += h
				}
				logf("re-keying of %s done in %.1f s: %d inputs", p.name, now, p.inputs)
			}
			h := countHandled(n.reg, p.name)
			if h.total() < p.inputs {
				continue
			}
			p.done, p.doneSeconds = true, now
			p.applied, p.skipped, p.dead = h.applied, h.skipped, h.dead
			if h.total() != p.inputs {
				return fail(fmt.Errorf("the fold of %s handled %d records of %d inputs", p.name, h.total(), p.inputs))
			}
			logf("%s folded in %.1f s", p.name, now)
		}
		if allDone {
			res.allSeconds = time.Since(start).Seconds()
			cpu := cputime.Process() - cpu0
			res.cpuSeconds = cpu.Seconds()
			res.otherSeconds = max(cputime.Machine()-busy0-cpu, 0).Seconds()
			break
		}
	}
	for _, p := range res.projs {
		res.allSeconds = max(res.allSeconds, p.doneSeconds)
	}
	if !withProjections {
		res.allSeconds = res.entitySeconds
	}
	return res, nil
}

// listRow is one listing from one node, over all passes.
type listRow struct {
	path, asked     string
	passes          int
	pages, items    int // of each pass
	forwardsPerPage float64
	lat             []time.Duration
}

// measureLists adds node-2 to e, waits until the cluster is settled and
// quiet, and pages through the listings.
func measureLists(e *env, all []demo.Event, passes, limit int, logf func(string, ...any)) ([]listRow, []string, string, error) {
	partitions := len(e.ends["orders-events"])
	start := time.Now()
	if _, err := e.startNode("node-2", partitions, true); err != nil {
		return nil, nil, "", err
	}
	ctx, cancel := context.WithTimeout(e.ctx, 5*time.Minute)
	defer cancel()
	if err := e.poll(ctx, e.settled); err != nil {
		return nil, nil, "", fmt.Errorf("waiting for 2 nodes to settle: %w", err)
	}
	logf("2 nodes settled in %.1f s", time.Since(start).Seconds())
	if err := e.poll(ctx, func(ctx context.Context) error { return e.quiet(partitions) }); err != nil {
		return nil, nil, "", fmt.Errorf("waiting for every group to commit the end of its topic: %w", err)
	}
	settledIn := time.Since(start)
	logf("every group at the end of its topics after %.1f s", settledIn.Seconds())
	var checks []string
	owned := []string{}
	for _, n := range e.nodes {
		var parts []string
		for _, t := range []string{"orders", "users", projections.CustomerOrders.Name} {
			parts = append(parts, fmt.Sprintf("%d %s", len(n.Assigned(t)), t))
		}
		owned = append(owned, n.ID()+": "+strings.Join(parts, ", "))
	}
	note := fmt.Sprintf("partitions owned %s; node-2 joined, the cluster settled and every group had committed the end of its topics %.1f s after node-2 started", strings.Join(owned, "; "), settledIn.Seconds())

	// The expected entity counts: the generated ids with state on their owner.
	expect := map[string]int{}
	seen := map[[2]string]bool{}
	for _, ev := range all {
		k := [2]string{ev.Entity, ev.ID}
		if seen[k] {
			continue
		}
		seen[k] = true
		o := e.owner(ev.Entity, ev.ID)
		if o == nil {
			return nil, nil, "", fmt.Errorf("no owner for %s %s", ev.Entity, ev.ID)
		}
		_, err := o.Processor().Get(ctx, ev.Entity, ev.ID)
		if errors.Is(err, eventfold.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, nil, "", fmt.Errorf("reading %s %s on %s: %w", ev.Entity, ev.ID, o.ID(), err)
		}
		expect[ev.Entity]++
	}

	changes0 := e.ownershipChanges()
	cpu0, busy0, listStart := cputime.Process(), cputime.Machine(), time.Now()
	type listing struct {
		path string
		page func(c *interactive.Client, after string) (interactive.ListResponse, error)
	}
	listings := []listing{
		{"GET /v1/orders", func(c *interactive.Client, after string) (interactive.ListResponse, error) {
			return c.List(ctx, "orders", interactive.ListOptions{Limit: limit, After: after})
		}},
		{"GET /v1/users", func(c *interactive.Client, after string) (interactive.ListResponse, error) {
			return c.List(ctx, "users", interactive.ListOptions{Limit: limit, After: after})
		}},
		{"GET /v1/projections/" + projections.CustomerOrders.Name, func(c *interactive.Client, after string) (interactive.ListResponse, error) {
			return c.ListProjection(ctx, projections.CustomerOrders.Name, interactive.ListOptions{Limit: limit, After: after})
		}},
	}
	rows := make([]*listRow, len(listings)*len(e.nodes))
	for i, l := range listings {
		for j, n := range e.nodes {
			rows[i*len(e.nodes)+j] = &listRow{path: l.path, asked: n.ID()}
		}
	}
	firstPass := make([][]interactive.ListItem, len(listings)) // listing -> items of its first pass
	for pass := 0; pass < passes; pass++ {
		for j, n := range e.nodes {
			c := interactive.NewClient(n.URL(), "")
			for i, l := range listings {
				r := rows[i*len(e.nodes)+j]
				fw0 := e.forwards()
				var items []interactive.ListItem
				pages := 0
				after := ""
				for {
					t0 := time.Now()
					resp, err := l.page(c, after)
					d := time.Since(t0)
					if err != nil {
						return nil, nil, "", fmt.Errorf("%s from %s, page %d after %q: %w", l.path, n.ID(), pages+1, after, err)
					}
					r.lat = append(r.lat, d)
					pages++
					items = append(items, resp.Items...)
					if resp.Next == nil {
						break
					}
					if len(resp.Items) == 0 {
						return nil, nil, "", fmt.Errorf("%s from %s: page %d is empty but has a next", l.path, n.ID(), pages)
					}
					after = *resp.Next
				}
				fw := e.forwards() - fw0
				for k := 1; k < len(items); k++ {
					if items[k-1].ID >= items[k].ID {
						return nil, nil, "", fmt.Errorf("%s from %s: %q then %q (not in order, or repeated)", l.path, n.ID(), items[k-1].ID, items[k].ID)
					}
				}
				if r.passes == 0 {
					r.pages, r.items = pages, len(items)
				} else if r.pages != pages || r.items != len(items) {
					return nil, nil, "", fmt.Errorf("%s from %s: pass %d has %d pages and %d items, the first %d and %d", l.path, n.ID(), pass+1, pages, len(items), r.pages, r.items)
				}
				r.forwardsPerPage = (r.forwardsPerPage*float64(r.passes) + fw/float64(pages)) / float64(r.passes+1)
				r.passes++
				if firstPass[i] == nil {
					firstPass[i] = items
				} else if len(items) != len(firstPass[i]) {
					return nil, nil, "", fmt.Errorf("%s: %d items from %s, %d in the first pass", l.path, len(items), n.ID(), len(firstPass[i]))
				}
				logf("pass %d of %s from %s: %d pages, %d items, %.1f forwards a page", pass+1, l.path, n.ID(), pages, len(items), fw/float64(pages))
			}
		}
	}
	cpu := cputime.Process() - cpu0
	pages := 0
	for _, r := range rows {
		pages += r.pages * r.passes
	}
	note += fmt.Sprintf("; the %d pages took %.1f s, this process (client, both nodes, broker) used %.1f s of CPU meanwhile (%.1f ms a page) and the rest of the machine %.1f s",
		pages, time.Since(listStart).Seconds(), cpu.Seconds(), ms(cpu)/float64(pages), max(cputime.Machine()-busy0-cpu, 0).Seconds())
	if d := e.ownershipChanges() - changes0; d != 0 {
		checks = append(checks, fmt.Sprintf("**the ownership map changed %d times while listing**", d))
	} else {
		checks = append(checks, "the ownership map did not change while listing")
	}
	for i, ent := range []string{"orders", "users"} {
		if got := len(firstPass[i]); got != expect[ent] {
			checks = append(checks, fmt.Sprintf("**%s lists %d ids, %d generated ids have state**", ent, got, expect[ent]))
		} else {
			checks = append(checks, fmt.Sprintf("%s lists %d ids = the generated ids with state", ent, got))
		}
	}
	checks = append(checks, checkCustomerOrders(firstPass[0], firstPass[2])...)
	c, err := checkUsersByRole(ctx, interactive.NewClient(e.nodes[0].URL(), ""), firstPass[1], limit)
	if err != nil {
		return nil, nil, "", err
	}
	checks = append(checks, c...)
	out := make([]listRow, len(rows))
	for i, r := range rows {
		out[i] = *r
	}
	return out, checks, note, nil
}

// checkCustomerOrders compares the listed customer-orders with what the
// listed orders say: each customer's open orders and totals, its order
// count, its shipped total.
func checkCustomerOrders(orderItems, customerItems []interactive.ListItem) []string {
	type want struct {
		open     map[string]int64
		orders   int
		lifetime int64
	}
	exp := map[string]*want{}
	for _, it := range orderItems {
		var o orders.Order
		if err := json.Unmarshal(it.State, &o); err != nil {
			return []string{fmt.Sprintf("**order %s: state does not decode: %v**", it.ID, err)}
		}
		if o.CustomerID == "" {
			continue
		}
		w := exp[o.CustomerID]
		if w == nil {
			w = &want{open: map[string]int64{}}
			exp[o.CustomerID] = w
		}
		w.orders++
		switch o.Status {
		case orders.StatusCreated, orders.StatusApproved:
			w.open[it.ID] = o.TotalCents
		case orders.StatusShipped:
			w.lifetime += o.TotalCents
		}
	}
	var bad []string
	got := map[string]bool{}
	for _, it := range customerItems {
		got[it.ID] = true
		var c projections.Customer
		if err := json.Unmarshal(it.State, &c); err != nil {
			return []string{fmt.Sprintf("**customer %s: state does not decode: %v**", it.ID, err)}
		}
		w := exp[it.ID]
		if w == nil {
			bad = append(bad, it.ID+" (no order names it)")
			continue
		}
		if c.Orders != w.orders || c.LifetimeCents != w.lifetime || !maps.Equal(c.Open, w.open) {
			bad = append(bad, fmt.Sprintf("%s (orders %d, want %d; lifetime %d, want %d; open %d, want %d)",
				it.ID, c.Orders, w.orders, c.LifetimeCents, w.lifetime, len(c.Open), len(w.open)))
		}
	}
	for id := range exp {
		if !got[id] {
			bad = append(bad, id+" (missing)")
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return []string{fmt.Sprintf("**customer-orders: %d of %d customers differ from the listed orders, e.g. %s**", len(bad), len(exp), strings.Join(bad[:min(3, len(bad))], ", "))}
	}
	return []string{fmt.Sprintf("customer-orders lists %d customers, each equal to what the %d listed orders say (open orders and totals, order count, shipped total)", len(customerItems), len(orderItems))}
}

// checkUsersByRole lists users-by-role (not timed) and compares it with the
// roles of the listed users that are not deleted.
func checkUsersByRole(ctx context.Context, c *interactive.Client, userItems []interactive.ListItem, limit int) ([]string, error) {
	exp := map[string][]string{}
	for _, it := range userItems {
		var u struct {
			Deleted bool     `json:"deleted"`
			Roles   []string `json:"roles"`
		}
		if err := json.Unmarshal(it.State, &u); err != nil {
			return []string{fmt.Sprintf("**user %s: state does not decode: %v**", it.ID, err)}, nil
		}
		if u.Deleted {
			continue
		}
		for _, r := range u.Roles {
			exp[r] = append(exp[r], it.ID)
		}
	}
	got := map[string][]string{}
	after := ""
	for {
		resp, err := c.ListProjection(ctx, projections.UsersByRole.Name, interactive.ListOptions{Limit: limit, After: after})
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", projections.UsersByRole.Name, err)
		}
		for _, it := range resp.Items {
			var r projections.Role
			if err := json.Unmarshal(it.State, &r); err != nil {
				return []string{fmt.Sprintf("**role %s: state does not decode: %v**", it.ID, err)}, nil
			}
			got[it.ID] = r.Users
		}
		if resp.Next == nil {
			break
		}
		after = *resp.Next
	}
	var bad []string
	for r, us := range exp {
		slices.Sort(us)
		if !slices.Equal(us, got[r]) {
			bad = append(bad, fmt.Sprintf("%s (%d users, want %d)", r, len(got[r]), len(us)))
		}
	}
	for r, us := range got {
		if _, ok := exp[r]; !ok && len(us) > 0 {
			bad = append(bad, fmt.Sprintf("%s (%d users, want none)", r, len(us)))
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return []string{fmt.Sprintf("**users-by-role differs from the listed users: %s**", strings.Join(bad, ", "))}, nil
	}
	n := 0
	for _, us := range exp {
		n += len(us)
	}
	return []string{fmt.Sprintf("users-by-role lists %d roles with %d memberships, equal to the roles of the listed users not deleted", len(got), n)}, nil
}

// poll calls cond every 50 ms until it returns nil, a node stops, or ctx ends.
func (e *env) poll(ctx context.Context, cond func(context.Context) error) error {
	for {
		if err := e.alive(); err != nil {
			return err
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

// settled: every node recovered and owning partitions of every type, and
// every node's ownership map agreeing with the processors' assignments
// (bench/lookup's condition).
func (e *env) settled(ctx context.Context) error {
	ids := make([]string, len(e.nodes))
	for i, n := range e.nodes {
		ids[i] = n.ID()
	}
	for _, n := range e.nodes {
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
			if len(n.Assigned(t.Name())) == 0 {
				return fmt.Errorf("%s owns no %s partition", n.ID(), t.Name())
			}
		}
	}
	for _, n := range e.nodes {
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

// quiet: the entity folds, the re-keying and the projection folds have
// committed the end of their topics.
func (e *env) quiet(partitions int) error {
	check := func(group, topic string) error {
		ends, err := e.hwms(topic, partitions)
		if err != nil {
			return err
		}
		ok, err := e.committedAtEnd(group, topic, ends)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%s has not committed the end of %s", group, topic)
		}
		return nil
	}
	for _, ent := range []string{"orders", "users"} {
		if err := check(settings.Group(ent), ent+"-events"); err != nil {
			return err
		}
	}
	for _, p := range projs {
		if err := check(settings.SubscriberGroup(projection.SubscriberName(p.name)), p.source+"-events"); err != nil {
			return err
		}
		if err := check(settings.Group(p.name), settings.RepartitionTopic(p.name)); err != nil {
			return err
		}
	}
	return nil
}

// owner returns the node that owns key of entityName.
func (e *env) owner(entityName, key string) *benchNode {
	for _, n := range e.nodes {
		parts := n.Processor().Partitions(entityName)
		if parts == 0 {
			continue
		}
		if slices.Contains(n.Processor().Assigned(entityName), kafka.FNV1a.Partition(key, parts)) {
			return n
		}
	}
	return nil
}

func (e *env) ownershipChanges() int64 {
	var sum int64
	for _, n := range e.nodes {
		sum += n.Ownership().Changes()
	}
	return sum
}

// forwards sums the nodes' forwards to peers that were answered.
func (e *env) forwards() float64 {
	var sum float64
	for _, n := range e.nodes {
		sum += counter(n.reg, "eventfold_http_forwards_total", map[string]string{"result": "ok"})
	}
	return sum
}

// quantile returns the q-quantile of ds (nearest rank); q = 1 is the max.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
