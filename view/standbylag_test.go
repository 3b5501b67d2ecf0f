package view_test

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eventfold/eventfold/demo"
	"github.com/eventfold/eventfold/eventfoldtest"
	"github.com/eventfold/eventfold/interactive"
	"github.com/eventfold/eventfold/node"
)

// standbyLag scrapes base/metrics: the largest eventfold_standby_lag and
// the number of its series.
func standbyLag(t *testing.T, base string) (max float64, n int) {
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
		if !ok || !strings.HasPrefix(series, "eventfold_standby_lag{") {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		if v > max {
			max = v
		}
		n++
	}
	return max, n
}

// A replica restarted on its data directory finds its copies caught up and
// goka loads nothing into them. They must report lag 0 and answer reads
// themselves, max_lag=0 included (they reported the whole changelog, so the
// replica sent every read to the owners and eventfold_standby_lag alerted).
func TestRestartedReplicaReportsNoLag(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	c := eventfoldtest.StartNodes(t, k, 1, demo.Entities(), nil)
	p := c.Nodes()[0]
	ctx := eventfoldtest.Context(t, 2*time.Minute)
	const users = 30
	for i := range users {
		if _, err := p.Client.Append(ctx, "users", fmt.Sprint("u-", i), []byte(`{"type":"UserCreated","name":"Ada","email":"ada@example.com"}`)); err != nil {
			t.Fatal(err)
		}
	}
	servedByReplica := func(r *eventfoldtest.Node) func() error {
		return func() error {
			if exited, err := r.Exited(); exited {
				t.Fatalf("the replica node stopped: %v", err)
			}
			for i := range users {
				resp, err := http.Get(fmt.Sprintf("%s/v1/users/u-%d?max_lag=0", r.URL(), i))
				if err != nil {
					return err
				}
				resp.Body.Close()
				by, lag := resp.Header.Get(interactive.HeaderServedBy), resp.Header.Get(interactive.HeaderLag)
				if resp.StatusCode != 200 || by != r.ID() || lag != "0" {
					return fmt.Errorf("u-%d?max_lag=0: %d served by %s (lag %q), want the replica %s with lag 0", i, resp.StatusCode, by, lag, r.ID())
				}
			}
			if lag, n := standbyLag(t, r.URL()); n == 0 || lag != 0 {
				return fmt.Errorf("%s: eventfold_standby_lag max %v over %d series, want 0", r.ID(), lag, n)
			}
			return nil
		}
	}
	r1 := c.AddNode(func(cfg *node.Config) { cfg.Role = interactive.RoleReplica })
	eventfoldtest.Eventually(t, 60*time.Second, servedByReplica(r1)) // loaded from the changelog
	dir := r1.DataDir
	r1.Stop(t)

	r2 := c.AddNode(func(cfg *node.Config) { cfg.Role = interactive.RoleReplica; cfg.DataDir = dir })
	eventfoldtest.Eventually(t, 20*time.Second, servedByReplica(r2)) // nothing to load
}
