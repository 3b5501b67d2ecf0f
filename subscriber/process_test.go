package subscriber_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/eventfold/eventfold"
	"github.com/eventfold/eventfold/demo"
	"github.com/eventfold/eventfold/demo/purchases"
	"github.com/eventfold/eventfold/eventfoldtest"
	"github.com/eventfold/eventfold/interactive"
	"github.com/eventfold/eventfold/kafka"
	"github.com/eventfold/eventfold/node"
	"github.com/eventfold/eventfold/subscriber"
)

// The demo's process manager on three nodes, one of which leaves and
// another joins while orders ship: every user counts each of its shipped
// orders once (an independent count: the orders this test shipped), and
// the commands went through the node's route to the owner (half the users
// are owned by other nodes than the one delivering).
func TestProcessManagerRecordsEachShippedOrderOnce(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	c := eventfoldtest.StartNodes(t, k, 3, demo.Entities(), func(cfg *node.Config) {
		cfg.Subscribers = []subscriber.Subscriber{purchases.Subscriber()}
		cfg.SubscriberOptions = []subscriber.Option{subscriber.WithCommitInterval(100 * time.Millisecond), subscriber.WithDrainTimeout(time.Second)}
	})
	ctx := eventfoldtest.Context(t, 3*time.Minute)
	cl := c.Nodes()[0].Client
	const nUsers, nOrders = 20, 120
	for i := range nUsers {
		id := fmt.Sprintf("user-%02d", i)
		if _, err := cl.Command(ctx, "users", id, []byte(fmt.Sprintf(`{"type":"CreateUser","name":"u%d","email":"u%d@example.com"}`, i, i)), interactive.CommandOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	type tally struct {
		n     int
		cents int64
	}
	want := map[string]tally{}
	appendEv := func(id, ev string) {
		t.Helper()
		if _, err := cl.Append(ctx, "orders", id, []byte(ev)); err != nil {
			t.Fatalf("%s %s: %v", id, ev, err)
		}
	}
	for i := range nOrders {
		id, user := fmt.Sprintf("order-%03d", i), fmt.Sprintf("user-%02d", i%nUsers)
		appendEv(id, fmt.Sprintf(`{"type":"OrderCreated","customer_id":%q}`, user))
		appendEv(id, fmt.Sprintf(`{"type":"ItemAdded","sku":"sku-1","quantity":%d,"price_cents":250}`, 1+i%4))
		appendEv(id, `{"type":"OrderApproved","approved_by":"test"}`)
		if i%5 == 4 {
			appendEv(id, `{"type":"OrderCancelled","reason":"changed mind"}`)
			continue
		}
		appendEv(id, `{"type":"OrderShipped","carrier":"dhl"}`)
		w := want[user]
		w.n++
		w.cents += int64(1+i%4) * 250
		want[user] = w
		switch i {
		case 40:
			c.Nodes()[1].Stop(t) // leaves with deliveries in flight
		case 80:
			c.AddNode()
		}
	}
	eventfoldtest.Eventually(t, 2*time.Minute, func() error {
		for user, w := range want {
			a, err := cl.Get(ctx, "users", user)
			if err != nil {
				return err
			}
			var u struct {
				Purchases     int   `json:"purchases"`
				LifetimeCents int64 `json:"lifetime_cents"`
			}
			if err := json.Unmarshal(a.State, &u); err != nil {
				return err
			}
			if u.Purchases != w.n || u.LifetimeCents != w.cents {
				return fmt.Errorf("%s: %d purchases, %d cents; want %d, %d", user, u.Purchases, u.LifetimeCents, w.n, w.cents)
			}
		}
		return nil
	})
	dl, err := kafka.ReadAll(ctx, k.Brokers, eventfoldtest.SaramaConfig(), "eventfold-sub-purchases-dlq")
	if err != nil {
		t.Fatal(err)
	}
	if len(dl) != 0 {
		t.Errorf("%d dead letters, want none", len(dl))
	}
	// A while later, still exact (no late duplicate).
	time.Sleep(time.Second)
	for user, w := range want {
		a, err := cl.Get(ctx, "users", user)
		if err != nil {
			t.Fatal(err)
		}
		if a.Version != uint64(1+w.n) {
			t.Errorf("%s at version %d, want %d (created + %d purchases)", user, a.Version, 1+w.n, w.n)
		}
	}
}

// Pausing through one node's API stops the subscriber on every node;
// resuming lets it go on. The status shows it.
func TestPauseAndResumeOverHTTP(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	var rec recorder
	audit := subscriber.Subscriber{Name: "audit", Entities: []string{"orders"}, Handler: subscriber.HandlerFunc(
		func(_ context.Context, d subscriber.Delivery) error { rec.add(d); return nil })}
	c := eventfoldtest.StartNodes(t, k, 2, demo.Entities(), func(cfg *node.Config) {
		cfg.Subscribers = []subscriber.Subscriber{audit}
	})
	ctx := eventfoldtest.Context(t, 2*time.Minute)
	n0, n1 := c.Nodes()[0], c.Nodes()[1]
	post := func(path string) int {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, n1.URL()+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("/v1/subscribers/audit/pause"); code != http.StatusOK {
		t.Fatalf("pause: %d", code)
	}
	if code := post("/v1/subscribers/nosuch/pause"); code != http.StatusNotFound {
		t.Errorf("pausing an unknown subscriber: %d, want 404", code)
	}
	for _, n := range c.Nodes() {
		eventfoldtest.Eventually(t, 30*time.Second, func() error {
			raw, err := n.Client.Subscribers(ctx)
			if err != nil {
				return err
			}
			var sts []subscriber.Status
			if err := json.Unmarshal(raw, &sts); err != nil {
				return err
			}
			if len(sts) != 1 || !sts[0].Paused || !sts[0].Runs {
				return fmt.Errorf("%s: %s", n.ID(), raw)
			}
			return nil
		})
	}
	for i := range 10 {
		if _, err := n0.Client.Append(ctx, "orders", fmt.Sprintf("o-%d", i), []byte(`{"type":"OrderCreated","customer_id":"c"}`)); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(time.Second) // the deliveries that must not happen
	if n := len(rec.snapshot()); n != 0 {
		t.Fatalf("%d deliveries while paused", n)
	}
	if err := n0.Client.PauseSubscriber(ctx, "audit", false); err != nil {
		t.Fatal(err)
	}
	eventfoldtest.Eventually(t, 30*time.Second, func() error {
		if n := len(rec.byEvent()); n != 10 {
			return fmt.Errorf("%d of 10 delivered after resuming", n)
		}
		return nil
	})
}

// A node that declares subscribers but runs none (serve's default) shows
// them, refuses to pause them, and creates none of their topics.
func TestANodeThatRunsNoSubscriberShowsThemAndTouchesNothing(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	c := eventfoldtest.StartNodes(t, k, 1, demo.Entities(), func(cfg *node.Config) {
		cfg.Subscribers = []subscriber.Subscriber{purchases.Subscriber()}
		cfg.RunSubscribers = []string{}
	})
	ctx := eventfoldtest.Context(t, time.Minute)
	n := c.Nodes()[0]
	raw, err := n.Client.Subscribers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var sts []subscriber.Status
	if err := json.Unmarshal(raw, &sts); err != nil {
		t.Fatal(err)
	}
	if len(sts) != 1 || sts[0].Name != "purchases" || sts[0].Runs {
		t.Errorf("status %s, want purchases, not run here", raw)
	}
	if err := n.Client.PauseSubscriber(ctx, "purchases", true); !errors.Is(err, eventfold.ErrInvalid) {
		t.Errorf("pause on a node that runs none: %v, want invalid", err)
	}
	adm, err := sarama.NewClusterAdmin(k.Brokers, eventfoldtest.SaramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	topics, err := adm.ListTopics()
	if err != nil {
		t.Fatal(err)
	}
	for name := range topics {
		if strings.Contains(name, "-sub-") || strings.HasSuffix(name, "-subscribers") {
			t.Errorf("topic %s created by a node that runs no subscriber", name)
		}
	}
}
