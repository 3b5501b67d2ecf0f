package projection_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/eventfold/eventfold/cluster"
	"github.com/eventfold/eventfold/demo"
	"github.com/eventfold/eventfold/demo/orders"
	"github.com/eventfold/eventfold/demo/projections"
	"github.com/eventfold/eventfold/demo/users"
	"github.com/eventfold/eventfold/eventfoldtest"
	"github.com/eventfold/eventfold/interactive"
	"github.com/eventfold/eventfold/kafka"
	"github.com/eventfold/eventfold/node"
	"github.com/eventfold/eventfold/projection"
)

// expected is what the projections must hold, computed from the events
// with the demo's own Evolve and this test's rules, not the projections'
// code: per key its state (as JSON) and its version (inputs applied).
type expected map[string]map[string]struct {
	state   json.RawMessage
	version uint64
}

// independentFold folds the generated events per key, as the entity fold
// does (an event Evolve refuses is not applied), and derives both
// projections from the entities: customer-orders from each order's final
// state, users-by-role from each user's roles as they change.
func independentFold(t *testing.T, events []demo.Event) expected {
	t.Helper()
	ords := map[string]orders.Order{}
	applied := map[string]uint64{} // order -> events applied
	usrs := map[string]users.User{}
	roleChanges := map[string]uint64{}
	for _, e := range events {
		switch e.Entity {
		case "orders":
			ev, err := orders.Events.Decode(e.Data)
			if err != nil {
				continue
			}
			if next, err := orders.Evolve(ords[e.ID], ev); err == nil {
				ords[e.ID] = next
				applied[e.ID]++
			}
		case "users":
			ev, err := users.Events.Decode(e.Data)
			if err != nil {
				continue
			}
			before := usrs[e.ID]
			next, err := users.Evolve(before, ev)
			if err != nil {
				continue
			}
			usrs[e.ID] = next
			had, has := effectiveRoles(before), effectiveRoles(next)
			for _, r := range had {
				if !slices.Contains(has, r) {
					roleChanges[r]++
				}
			}
			for _, r := range has {
				if !slices.Contains(had, r) {
					roleChanges[r]++
				}
			}
		}
	}
	out := expected{"customer-orders": {}, "users-by-role": {}}
	customers := map[string]*projections.Customer{}
	versions := map[string]uint64{}
	for id, o := range ords {
		c := customers[o.CustomerID]
		if c == nil {
			c = &projections.Customer{Open: map[string]int64{}}
			customers[o.CustomerID] = c
		}
		c.Orders++
		versions[o.CustomerID] += applied[id]
		switch o.Status {
		case orders.StatusCreated, orders.StatusApproved:
			c.Open[id] = o.TotalCents
		case orders.StatusShipped:
			c.LifetimeCents += o.TotalCents
		}
	}
	for id, c := range customers {
		b, _ := json.Marshal(c)
		out["customer-orders"][id] = struct {
			state   json.RawMessage
			version uint64
		}{b, versions[id]}
	}
	holders := map[string][]string{}
	for id, u := range usrs {
		for _, r := range effectiveRoles(u) {
			holders[r] = append(holders[r], id)
		}
	}
	for r, n := range roleChanges {
		us := holders[r]
		slices.Sort(us)
		b, _ := json.Marshal(projections.Role{Users: us})
		if us == nil {
			b = []byte(`{"users":[]}`)
		}
		out["users-by-role"][r] = struct {
			state   json.RawMessage
			version uint64
		}{b, n}
	}
	return out
}

func effectiveRoles(u users.User) []string {
	if u.Deleted {
		return nil
	}
	return u.Roles
}

// served lists every key of a projection through the API.
func served(t *testing.T, c *interactive.Client, name string) map[string]interactive.ListItem {
	t.Helper()
	out := map[string]interactive.ListItem{}
	o := interactive.ListOptions{Limit: 1000}
	for {
		page, err := c.ListProjection(context.Background(), name, o)
		if err != nil {
			t.Fatalf("list %s: %v", name, err)
		}
		for _, it := range page.Items {
			out[it.ID] = it
		}
		if page.Next == nil {
			return out
		}
		o.After = *page.Next
	}
}

// compare returns how many keys differ from want (state or version).
func compare(t *testing.T, c *interactive.Client, want expected) (keys, wrong int, first string) {
	t.Helper()
	for name, byKey := range want {
		got := served(t, c, name)
		for k, w := range byKey {
			keys++
			g, ok := got[k]
			if !ok || g.Version != w.version || !jsonEqual(g.State, w.state) {
				wrong++
				if first == "" {
					first = fmt.Sprintf("%s/%s: served %s version %d (found %v), want %s version %d", name, k, g.State, g.Version, ok, w.state, w.version)
				}
			}
		}
		for k := range got {
			if _, ok := byKey[k]; !ok {
				wrong++
				if first == "" {
					first = fmt.Sprintf("%s/%s served, not in the independent fold", name, k)
				}
			}
		}
	}
	return keys, wrong, first
}

func jsonEqual(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}

func produce(t *testing.T, k *eventfoldtest.Kafka, events []demo.Event) {
	t.Helper()
	pr, err := kafka.NewProducer(k.Brokers, eventfoldtest.SaramaConfig(), kafka.FNV1a)
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	recs := make([]kafka.Record, len(events))
	for i, e := range events {
		recs[i] = kafka.Record{Topic: e.Entity + "-events", Key: e.ID, Value: e.Data}
	}
	if _, err := pr.SendAll(eventfoldtest.Context(t, time.Minute), recs); err != nil {
		t.Fatal(err)
	}
}

func withProjections(c *node.Config) { c.Projections = projections.All() }

// The check on kfake: both demo projections, folded by nodes that
// come and go, equal an independent fold; then the re-keying starts over
// from the beginning (its groups and source states deleted: every input
// written a second time, as after a crash that lost everything) and
// nothing is applied twice.
func TestProjectionsEqualAnIndependentFoldAndSurviveAReplay(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 2)
	c := eventfoldtest.StartNodes(t, k, 2, demo.Entities(), withProjections)
	events := demo.Generate(7, 600, 6000)
	want := independentFold(t, events)

	produce(t, k, events[:len(events)/2])
	c.AddNode() // a rebalance while the first half is folded
	produce(t, k, events[len(events)/2:])
	c.WaitRebalanced(60 * time.Second)
	n := c.Nodes()[0]
	// Commands of several events (an order and its items): one batch for
	// the re-keying, each event an input of its own.
	placeOrders(t, n.Client, want)
	var keys, wrong int
	var first string
	eventfoldtest.Eventually(t, 90*time.Second, func() error {
		if keys, wrong, first = compare(t, n.Client, want); wrong > 0 {
			return fmt.Errorf("%d of %d keys differ; first: %s", wrong, keys, first)
		}
		return nil
	})
	t.Logf("%d projection keys equal the independent fold", keys)
	inputs := repartitionInputs(t, k)

	// Start the re-keying over: stop the nodes, delete its groups and the
	// source states it keeps, start new nodes (their tables restored from
	// the changelogs).
	for _, nd := range c.Nodes() {
		nd.Stop(t)
	}
	admin, err := sarama.NewClusterAdmin(k.Brokers, eventfoldtest.SaramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	s := cluster.Settings{App: cluster.DefaultApp}
	for p, source := range map[string]string{"customer-orders": "orders", "users-by-role": "users"} {
		name := projection.SubscriberName(p)
		if err := admin.DeleteConsumerGroup(s.SubscriberGroup(name)); err != nil {
			t.Fatalf("delete group %s: %v", s.SubscriberGroup(name), err)
		}
		if err := admin.DeleteTopic(s.SubscriberStateTopic(name, source)); err != nil {
			t.Fatalf("delete %s: %v", s.SubscriberStateTopic(name, source), err)
		}
	}
	c2 := eventfoldtest.StartNodes(t, k, 2, demo.Entities(), withProjections)
	eventfoldtest.Eventually(t, 90*time.Second, func() error {
		if got := repartitionInputs(t, k); got < 2*inputs {
			return fmt.Errorf("%d inputs in the repartition topics, want %d (every input a second time)", got, 2*inputs)
		}
		return nil
	})
	n = c2.Nodes()[0]
	eventfoldtest.Eventually(t, 60*time.Second, func() error {
		if keys, wrong, first = compare(t, n.Client, want); wrong > 0 {
			return fmt.Errorf("after the replay %d of %d keys differ; first: %s", wrong, keys, first)
		}
		for _, nd := range c2.Nodes() {
			for _, p := range []string{"customer-orders", "users-by-role"} {
				for part, lag := range nd.Processor().Lags(p) {
					if lag > 0 {
						return fmt.Errorf("%s: %s partition %d has %d inputs to fold", nd.ID(), p, part, lag)
					}
				}
			}
		}
		return nil
	})
	t.Logf("after %d inputs were written a second time: %d keys equal, none applied twice", inputs, keys)
}

// placeOrders places orders of 1 to 4 items for customers of their own,
// each one command of several events, and adds what customer-orders must
// then hold to want.
func placeOrders(t *testing.T, c *interactive.Client, want expected) {
	t.Helper()
	for i := range 20 {
		items := make([]map[string]any, 1+i%4)
		var total int64
		for j := range items {
			items[j] = map[string]any{"sku": fmt.Sprintf("SKU-%d", j), "quantity": 1 + j, "price_cents": 100 * (i + 1)}
			total += int64((1 + j) * 100 * (i + 1))
		}
		customer, order := fmt.Sprintf("cmd-customer-%d", i), fmt.Sprintf("cmd-order-%d", i)
		cmd, _ := json.Marshal(map[string]any{"type": "PlaceOrder", "customer_id": customer, "items": items})
		res, err := c.Command(context.Background(), "orders", order, cmd, interactive.CommandOptions{})
		if err != nil {
			t.Fatalf("PlaceOrder %s: %v", order, err)
		}
		if res.Events != 1+len(items) {
			t.Fatalf("PlaceOrder %s appended %d events, want %d", order, res.Events, 1+len(items))
		}
		b, _ := json.Marshal(projections.Customer{Open: map[string]int64{order: total}, Orders: 1})
		want["customer-orders"][customer] = struct {
			state   json.RawMessage
			version uint64
		}{b, uint64(res.Events)}
	}
}

// repartitionInputs counts the inputs (not the progress markers) in both
// repartition topics.
func repartitionInputs(t *testing.T, k *eventfoldtest.Kafka) int64 {
	t.Helper()
	var n int64
	for _, p := range []string{"customer-orders", "users-by-role"} {
		msgs, err := kafka.ReadAll(context.Background(), k.Brokers, eventfoldtest.SaramaConfig(), cluster.Settings{App: cluster.DefaultApp}.RepartitionTopic(p))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			var v struct {
				Origin json.RawMessage `json:"o"`
			}
			if json.Unmarshal(m.Value, &v) == nil && len(v.Origin) > 0 {
				n++
			}
		}
	}
	return n
}

// Read-your-writes across the re-keying: a client that appended an order
// event asks the customer's projection with min_source (the append's
// position) and gets a state that has it; a position never written times
// out with 504; an entity read refuses min_source.
func TestReadYourWritesAcrossTheReKeying(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	c := eventfoldtest.StartNodes(t, k, 2, demo.Entities(), func(cfg *node.Config) {
		withProjections(cfg)
		cfg.LookupDeadline = 3 * time.Second
	})
	nodes := c.Nodes()
	get := func(url string) (int, interactive.EntityResponse) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body interactive.EntityResponse
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	// The re-keying starts with the nodes (it joins its group and restores
	// its state first): one order folded into its customer's projection
	// says it runs, before the reads are timed against the deadline.
	if _, err := nodes[0].Client.Append(context.Background(), "orders", "ryw-warmup", []byte(`{"type":"OrderCreated","customer_id":"ryw-warmup"}`)); err != nil {
		t.Fatal(err)
	}
	eventfoldtest.Eventually(t, 60*time.Second, func() error {
		_, err := nodes[0].Client.Projection(context.Background(), "customer-orders", "ryw-warmup")
		return err
	})
	var worst time.Duration
	for i := range 20 {
		customer, order := fmt.Sprintf("ryw-c-%d", i), fmt.Sprintf("ryw-o-%d", i)
		n := nodes[i%len(nodes)]
		a, err := n.Client.Append(context.Background(), "orders", order, []byte(fmt.Sprintf(`{"type":"OrderCreated","customer_id":%q}`, customer)))
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		code, body := get(fmt.Sprintf("%s/v1/projections/customer-orders/%s?min_source=orders:%d:%d", nodes[(i+1)%len(nodes)].URL(), customer, a.Partition, a.Offset))
		worst = max(worst, time.Since(start))
		var st projections.Customer
		_ = json.Unmarshal(body.State, &st)
		if code != http.StatusOK || st.Orders != 1 || st.Open[order] != 0 || len(st.Open) != 1 {
			t.Fatalf("%s after appending %s at %d/%d: %d %s", customer, order, a.Partition, a.Offset, code, body.State)
		}
	}
	t.Logf("20 reads with min_source each saw their append; the slowest waited %v", worst)

	if code, _ := get(nodes[0].URL() + "/v1/projections/customer-orders/ryw-c-0?min_source=orders:0:99999999"); code != http.StatusGatewayTimeout {
		t.Errorf("min_source never reached: %d, want 504", code)
	}
	for _, q := range []string{"min_source=orders:0", "min_source=orders:x:1", "min_source=:0:1"} {
		if code, _ := get(nodes[0].URL() + "/v1/projections/customer-orders/ryw-c-0?" + q); code != http.StatusBadRequest {
			t.Errorf("?%s: %d, want 400", q, code)
		}
	}
	if code, _ := get(nodes[0].URL() + "/v1/orders/ryw-o-0?min_source=orders:0:1"); code != http.StatusBadRequest {
		t.Errorf("min_source on an entity: %d, want 400", code)
	}
}
