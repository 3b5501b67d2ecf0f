package view_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eventfold/eventfold/demo"
	"github.com/eventfold/eventfold/eventfoldtest"
	"github.com/eventfold/eventfold/interactive"
	"github.com/eventfold/eventfold/node"
)

// A replica's changelog fetches fail while a broker fails over (the
// partition leader is gone until Kafka elects another). The replica must
// reconnect and catch up, not stop the node.
func TestReplicaRidesOutFetchErrors(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	c := eventfoldtest.StartNodes(t, k, 1, demo.Entities(), nil)
	p := c.Nodes()[0]
	r := c.AddNode(func(cfg *node.Config) { cfg.Role = interactive.RoleReplica })
	c.WaitRebalanced(60 * time.Second)
	ctx := eventfoldtest.Context(t, 2*time.Minute)
	const users = 20

	appendAll := func(event string) {
		t.Helper()
		for i := range users {
			if _, err := p.Client.Append(ctx, "users", fmt.Sprint("u-", i), []byte(event)); err != nil {
				t.Fatal(err)
			}
		}
	}
	replicaServes := func(version uint64) {
		t.Helper()
		eventfoldtest.Eventually(t, 60*time.Second, func() error {
			if exited, err := r.Exited(); exited {
				t.Fatalf("the replica node stopped: %v", err)
			}
			for i := range users {
				a, err := r.Client.Get(ctx, "users", fmt.Sprint("u-", i))
				if err != nil {
					return err
				}
				if a.ServedBy != r.ID() || a.Version != version {
					return fmt.Errorf("u-%d: version %d served by %s, want %d from the replica", i, a.Version, a.ServedBy, version)
				}
			}
			return nil
		})
	}
	appendAll(`{"type":"UserCreated","name":"Ada","email":"ada@example.com"}`)
	replicaServes(1)

	const outage = 5 * time.Second
	until := time.Now().Add(outage)
	var refused atomic.Int64
	k.Cluster.ControlKey(int16(kmsg.Fetch), func(req kmsg.Request) (kmsg.Response, error, bool) {
		k.Cluster.KeepControl()
		if time.Now().After(until) {
			return nil, nil, false
		}
		for _, tp := range req.(*kmsg.FetchRequest).Topics {
			if strings.HasSuffix(tp.Topic, "-table") {
				refused.Add(1)
				return nil, context.DeadlineExceeded, true // closes the connection
			}
		}
		return nil, nil, false
	})
	eventfoldtest.Eventually(t, 30*time.Second, func() error {
		if refused.Load() == 0 {
			return fmt.Errorf("no table fetch refused yet")
		}
		return nil
	})
	appendAll(`{"type":"UserUpdated","name":"Ada Lovelace"}`)
	replicaServes(2)
	t.Logf("%d changelog fetches dropped over %v; the replica caught up", refused.Load(), outage)
}
