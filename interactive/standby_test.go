package interactive_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/eventfold/eventfold"
	"github.com/eventfold/eventfold/eventfoldtest"
	"github.com/eventfold/eventfold/interactive"
	"github.com/eventfold/eventfold/kafka"
	"github.com/eventfold/eventfold/node"
)

type answer struct {
	status         int
	code, servedBy string
	stale, lag     string
	v              string
}

func get(t *testing.T, base, path string) answer {
	t.Helper()
	resp, err := http.Get(base + path)
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		State struct{ V string }
		Code  string
	}
	_ = jsonDecode(resp, &body)
	return answer{resp.StatusCode, body.Code, resp.Header.Get(interactive.HeaderServedBy),
		resp.Header.Get(interactive.HeaderStale), resp.Header.Get(interactive.HeaderLag), body.State.V}
}

// keysOwnedBy returns up to n keys (of r-0..r-keys) whose owner is nd.
func keysOwnedBy(c *eventfoldtest.Cluster, nd *eventfoldtest.Node, keys, n int) []int {
	var out []int
	for i := 0; i < keys && len(out) < n; i++ {
		if c.Owner("registers", fmt.Sprintf("r-%d", i), kafka.FNV1a) == nd {
			out = append(out, i)
		}
	}
	return out
}

func waitLoaded(t *testing.T, n *eventfoldtest.Node, keys int) {
	t.Helper()
	eventfoldtest.Eventually(t, 60*time.Second, func() error {
		for i := 0; i < keys; i++ {
			if _, err := n.Client.Get(context.Background(), "registers", fmt.Sprintf("r-%d", i)); err != nil {
				return err
			}
		}
		return nil
	})
}

// The owner of some partitions becomes unreachable while it still holds
// them in Kafka: reads fall back to the hot-standby copy, flagged stale with
// its lag; consistency=strong refuses; max_lag bounds.
func TestHotStandbyAnswersWhenOwnerUnreachable(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 2)
	c := eventfoldtest.StartNodes(t, k, 2, entities(), func(cfg *node.Config) {
		cfg.HotStandby = true
		cfg.LookupDeadline = 300 * time.Millisecond
	})
	const keys = 300
	load(t, k, keys, func(i int) string { return fmt.Sprint("v", i) })
	a, b := c.Nodes()[0], c.Nodes()[1]
	waitLoaded(t, a, keys)
	// The standby copies on a have caught up with b's partitions.
	eventfoldtest.Eventually(t, 30*time.Second, func() error {
		if got := len(a.Processor().RecoveredPartitions("registers")); got != 12 {
			return fmt.Errorf("a has %d of 12 partitions recovered", got)
		}
		return nil
	})
	owned := keysOwnedBy(c, b, keys, 20)
	if len(owned) == 0 {
		t.Fatal("b owns no keys")
	}
	b.Isolate(true)
	for _, i := range owned {
		path := fmt.Sprintf("/v1/registers/r-%d", i)
		var ans answer
		eventfoldtest.Eventually(t, 10*time.Second, func() error {
			ans = get(t, a.URL(), path)
			if ans.stale == "true" && ans.lag == "0" {
				return nil
			}
			return fmt.Errorf("%s: %+v", path, ans)
		})
		if ans.status != 200 || ans.servedBy != a.ID() || ans.v != fmt.Sprint("v", i) {
			t.Fatalf("%s via standby = %+v", path, ans)
		}
		if s := get(t, a.URL(), path+"?consistency=strong"); s.status != 503 || s.code != interactive.CodeStale {
			t.Fatalf("%s strong = %+v, want 503 stale", path, s)
		}
		if s := get(t, a.URL(), path+"?max_lag=0"); s.status != 200 || s.stale != "true" {
			t.Fatalf("%s max_lag=0 = %+v", path, s)
		}
	}
	// Keys a owns are unaffected: fresh, not stale.
	for _, i := range keysOwnedBy(c, a, keys, 5) {
		if s := get(t, a.URL(), fmt.Sprintf("/v1/registers/r-%d", i)); s.status != 200 || s.stale != "" {
			t.Fatalf("r-%d on its owner = %+v", i, s)
		}
	}
	b.Isolate(false)
	// Healing is not instant (a's next forward must find b again), and a
	// one-shot read within a 300 ms deadline can still fall back on a busy
	// machine: wait for the fresh answer instead.
	eventfoldtest.Eventually(t, 10*time.Second, func() error {
		if s := get(t, a.URL(), fmt.Sprintf("/v1/registers/r-%d", owned[0])); s.status != 200 || s.stale != "" || s.servedBy != b.ID() {
			return fmt.Errorf("after healing: %+v", s)
		}
		return nil
	})
}

// A replica answers reads without owning partitions, does not rebalance the
// processors when it joins, and is the standby of last resort.
func TestReplicaReadsAndFallback(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 2)
	c := eventfoldtest.StartNodes(t, k, 2, entities(), func(cfg *node.Config) {
		cfg.LookupDeadline = 300 * time.Millisecond
	})
	const keys = 300
	load(t, k, keys, func(i int) string { return fmt.Sprint("v", i) })
	a, b := c.Nodes()[0], c.Nodes()[1]
	waitLoaded(t, a, keys)
	revBefore := a.Ownership().Snapshot().Revision
	assignedBefore := fmt.Sprint(a.Processor().Assigned("registers"), b.Processor().Assigned("registers"))

	r := c.AddNode(func(cfg *node.Config) { cfg.Role = interactive.RoleReplica })
	c.WaitRebalanced(60 * time.Second)
	eventfoldtest.Eventually(t, 30*time.Second, func() error {
		if _, ok := a.Ownership().Snapshot().Replicas[r.ID()]; !ok {
			return errors.New("replica not in a's map")
		}
		return nil
	})
	if got := fmt.Sprint(a.Processor().Assigned("registers"), b.Processor().Assigned("registers")); got != assignedBefore {
		t.Errorf("assignments changed when the replica joined: %s -> %s", assignedBefore, got)
	}
	if rev := a.Ownership().Snapshot().Revision; rev != revBefore {
		t.Errorf("ownership revision %d -> %d when the replica joined", revBefore, rev)
	}
	if len(r.Assigned("registers")) != 0 {
		t.Error("replica owns partitions")
	}

	// Every key is served by the replica itself once its copy is caught up.
	eventfoldtest.Eventually(t, 30*time.Second, func() error {
		for i := 0; i < keys; i++ {
			s := get(t, r.URL(), fmt.Sprintf("/v1/registers/r-%d", i))
			if s.status != 200 || s.v != fmt.Sprint("v", i) || s.servedBy != r.ID() || s.stale != "true" || s.lag != "0" {
				return fmt.Errorf("r-%d via replica = %+v", i, s)
			}
		}
		return nil
	})
	// consistency=strong goes to the owner.
	if s := get(t, r.URL(), "/v1/registers/r-1?consistency=strong"); s.status != 200 || s.stale != "" || s.servedBy == r.ID() {
		t.Errorf("strong read via replica = %+v", s)
	}
	// Owner unreachable, no hot standby on a: a falls back to the replica.
	// The stale answers count once as served here (on r) and once as
	// relayed (on a), so a cluster total sums served="here" only.
	const here, relayed = `eventfold_http_stale_answers_total{served="here"}`, `eventfold_http_stale_answers_total{served="relayed"}`
	rHere, aRelayed, aHere := metric(t, r.URL(), here), metric(t, a.URL(), relayed), metric(t, a.URL(), here)
	if rHere < 0 || aRelayed < 0 || aHere < 0 {
		t.Fatalf("stale-answer series missing: r here %v, a relayed %v, a here %v", rHere, aRelayed, aHere)
	}
	b.Isolate(true)
	owned := keysOwnedBy(c, b, keys, 10)
	for _, i := range owned {
		s := get(t, a.URL(), fmt.Sprintf("/v1/registers/r-%d", i))
		if s.status != 200 || s.servedBy != r.ID() || s.stale != "true" || s.v != fmt.Sprint("v", i) {
			t.Fatalf("r-%d with owner unreachable = %+v", i, s)
		}
	}
	b.Isolate(false)
	if got := metric(t, a.URL(), relayed) - aRelayed; got != float64(len(owned)) {
		t.Errorf("a relayed %v stale answers, want %d", got, len(owned))
	}
	if got := metric(t, a.URL(), here) - aHere; got != 0 {
		t.Errorf("a counted %v stale answers as its own", got)
	}
	if got := metric(t, r.URL(), here) - rHere; got < float64(len(owned)) {
		t.Errorf("r counted %v stale answers served here, want at least %d", got, len(owned))
	}
	for _, n := range []*eventfoldtest.Node{a, b, r} {
		if v := metric(t, n.URL(), "eventfold_ready"); v != 1 {
			t.Errorf("%s: eventfold_ready = %v, want 1", n.ID(), v)
		}
		if v := metric(t, n.URL(), "eventfold_ownership_refresh_errors_total"); v < 0 {
			t.Errorf("%s: no eventfold_ownership_refresh_errors_total", n.ID())
		}
	}
	// Any node may append, replicas too.
	cl := interactive.NewClient(r.URL(), "")
	if _, err := cl.Append(context.Background(), "registers", "r-new", setEvent("x")); err != nil {
		t.Errorf("append via replica: %v", err)
	}
	if _, err := cl.Get(context.Background(), "registers", "nobody"); !errors.Is(err, eventfold.ErrNotFound) {
		t.Errorf("missing key via replica = %v", err)
	}
}

func TestReadOptionsValidation(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	c := eventfoldtest.StartNodes(t, k, 1, entities(), nil)
	for _, q := range []string{"consistency=always", "max_lag=-1", "max_lag=x"} {
		if s := get(t, c.Nodes()[0].URL(), "/v1/registers/r-1?"+q); s.status != 400 || s.code != interactive.CodeInvalid {
			t.Errorf("?%s = %+v, want 400 invalid", q, s)
		}
	}
}
