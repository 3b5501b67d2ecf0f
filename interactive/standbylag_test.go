package interactive_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eventfold/eventfold/eventfoldtest"
	"github.com/eventfold/eventfold/kafka"
	"github.com/eventfold/eventfold/node"
)

// createEvents creates the registers events topic before any node runs, so
// that data can be loaded first.
func createEvents(t *testing.T, k *eventfoldtest.Kafka) {
	t.Helper()
	if _, err := kafka.EnsureTopics(eventfoldtest.Context(t, time.Minute), k.Brokers, eventfoldtest.SaramaConfig(),
		[]kafka.TopicSpec{{Name: "registers-events", Kind: kafka.Events, Partitions: 12}}); err != nil {
		t.Fatal(err)
	}
}

// maxSeries scrapes base/metrics and returns the largest value of the
// series of name (any labels) and how many there are.
func maxSeries(t *testing.T, base, name string) (max float64, n int) {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	max = -1
	for _, line := range strings.Split(string(b), "\n") {
		series, value, ok := strings.Cut(line, " ")
		if !ok || !strings.HasPrefix(series, name+"{") {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		max, n = maxf(max, v), n+1
	}
	return max, n
}

func maxf(a, b float64) float64 {
	if a > b {
		return a
	}
	return b
}

// Data first, then the nodes: when the second node joins, the first
// reopens its copies of the partitions it hands over as hot standbys,
// caught up, and goka loads nothing into them. Those copies must report lag
// 0 (they reported the whole changelog: a max_lag=0 read was refused by a
// perfectly good copy, and eventfold_standby_lag alerted).
func TestCaughtUpHotStandbyReportsNoLag(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 2)
	createEvents(t, k)
	const keys = 300
	load(t, k, keys, func(i int) string { return fmt.Sprint("v", i) })
	c := eventfoldtest.StartNodes(t, k, 1, entities(), func(cfg *node.Config) {
		cfg.HotStandby = true
		cfg.LookupDeadline = 300 * time.Millisecond
	})
	a := c.Nodes()[0]
	waitLoaded(t, a, keys)
	b := c.AddNode()
	c.WaitRebalanced(60 * time.Second)
	owned := keysOwnedBy(c, b, keys, 20)
	if len(owned) == 0 {
		t.Fatal("b owns no keys")
	}
	ctx := context.Background()
	// a's copies of b's partitions: GetStandby, and the metric.
	eventfoldtest.Eventually(t, 20*time.Second, func() error {
		for _, i := range owned {
			e, err := a.Processor().GetStandby(ctx, "registers", fmt.Sprintf("r-%d", i))
			if err != nil {
				return err
			}
			if !e.Stale || e.Lag != 0 || string(e.State) != fmt.Sprintf(`{"v":"v%d"}`, i) {
				return fmt.Errorf("r-%d on a's standby: stale %v, lag %d, state %s", i, e.Stale, e.Lag, e.State)
			}
		}
		if lag, n := maxSeries(t, a.URL(), "eventfold_standby_lag"); n == 0 || lag != 0 {
			return fmt.Errorf("a: eventfold_standby_lag max %v over %d series, want 0", lag, n)
		}
		return nil
	})
	// b unreachable: a answers from its standby copies, lag 0, max_lag=0 too.
	b.Isolate(true)
	for _, i := range owned {
		path := fmt.Sprintf("/v1/registers/r-%d", i)
		if s := get(t, a.URL(), path+"?max_lag=0"); s.status != 200 || s.stale != "true" || s.lag != "0" || s.servedBy != a.ID() || s.v != fmt.Sprint("v", i) {
			t.Fatalf("%s?max_lag=0 with the owner unreachable = %+v", path, s)
		}
	}
	b.Isolate(false)
}
