package interactive_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eventfold/eventfold"
	"github.com/eventfold/eventfold/demo/orders"
	"github.com/eventfold/eventfold/entity"
	"github.com/eventfold/eventfold/eventfoldtest"
	"github.com/eventfold/eventfold/interactive"
	"github.com/eventfold/eventfold/kafka"
	"github.com/eventfold/eventfold/limits"
	"github.com/eventfold/eventfold/node"
)

// checkPartitions checks a /v1/cluster/partitions answer against the
// running processors procs and replica: every member answered, every
// partition has one owner (the node that says it owns it), the other
// processors as hot standbys, the replica, and a lag of 0 once the fold
// caught up; the last rebalance has the processors as members.
func checkPartitions(ans interactive.PartitionsResponse, procs []*eventfoldtest.Node, replica *eventfoldtest.Node) error {
	var ids []string
	for _, p := range procs {
		ids = append(ids, p.ID())
	}
	slices.Sort(ids)
	want := map[string]interactive.Role{replica.ID(): interactive.RoleReplica}
	for _, id := range ids {
		want[id] = interactive.RoleProcessor
	}
	if len(ans.Members) != len(want) {
		return fmt.Errorf("members %+v, want %v", ans.Members, want)
	}
	for _, m := range ans.Members {
		if !m.OK || m.Error != "" || want[m.ID] != m.Role || m.URL == "" {
			return fmt.Errorf("member %+v, want %s ok", m, want[m.ID])
		}
	}
	pm, ok := ans.Entities["registers"]
	if !ok || pm.Partitions != 12 || !pm.Stable || len(pm.ByPartition) != 12 {
		return fmt.Errorf("registers: %d partitions, stable %v, %d listed", pm.Partitions, pm.Stable, len(pm.ByPartition))
	}
	for i, info := range pm.ByPartition {
		if info.Partition != int32(i) {
			return fmt.Errorf("entry %d is partition %d", i, info.Partition)
		}
		var owner *eventfoldtest.Node
		for _, p := range procs {
			if slices.Contains(p.Assigned("registers"), info.Partition) {
				owner = p
			}
		}
		if owner == nil || info.Owner != owner.ID() {
			return fmt.Errorf("partition %d: owner %q, want the node that owns it", i, info.Owner)
		}
		others := slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return id == owner.ID() })
		if fmt.Sprint(info.Standbys) != fmt.Sprint(others) {
			return fmt.Errorf("partition %d: standbys %v, want %v", i, info.Standbys, others)
		}
		if fmt.Sprint(info.Replicas) != fmt.Sprint([]string{replica.ID()}) {
			return fmt.Errorf("partition %d: replicas %v, want [%s]", i, info.Replicas, replica.ID())
		}
		if info.Lag == nil || *info.Lag != 0 {
			return fmt.Errorf("partition %d: lag %v, want 0", i, info.Lag)
		}
	}
	if len(ans.Rebalances) == 0 {
		return errors.New("no rebalance remembered")
	}
	last := ans.Rebalances[len(ans.Rebalances)-1]
	if fmt.Sprint(last.Members) != fmt.Sprint(ids) || last.Moved == 0 || last.At.IsZero() {
		return fmt.Errorf("last rebalance %+v, want members %v", last, ids)
	}
	if ans.RefreshedAt.IsZero() {
		return errors.New("no refreshed_at")
	}
	return nil
}

// GET /v1/cluster/partitions, asked of any node, gathers every member's
// view: owners, hot standbys, the replica, the owners' lag. A member that
// does not answer is listed as such and the rest still answers; a node
// that leaves is gone from the map after the rebalance, which is listed.
func TestClusterPartitionsGathersEveryMember(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	c := eventfoldtest.StartNodes(t, k, 3, entities(), func(cfg *node.Config) { cfg.HotStandby = true })
	procs := c.Nodes()
	replica := c.AddNode(func(cfg *node.Config) { cfg.Role = interactive.RoleReplica })
	c.WaitRebalanced(60 * time.Second)
	const keys = 300
	load(t, k, keys, func(i int) string { return fmt.Sprint("v", i) })
	waitLoaded(t, procs[0], keys)
	ctx := eventfoldtest.Context(t, 3*time.Minute)

	for _, asked := range append(slices.Clone(procs), replica) {
		t.Run("asked "+asked.ID(), func(t *testing.T) {
			var ans interactive.PartitionsResponse
			eventfoldtest.Eventually(t, 60*time.Second, func() error {
				var err error
				if ans, err = asked.Client.ClusterPartitions(ctx); err != nil {
					return err
				}
				if ans.Self != asked.ID() {
					return fmt.Errorf("self %q", ans.Self)
				}
				return checkPartitions(ans, procs, replica)
			})
		})
	}
	// Each node's own /v1/cluster has the lag of the partitions it owns.
	for _, p := range procs {
		cl, err := p.Client.Cluster(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var lagged []int32
		for part := range cl.Entities["registers"].Lag {
			lagged = append(lagged, part)
		}
		slices.Sort(lagged)
		if fmt.Sprint(lagged) != fmt.Sprint(p.Assigned("registers")) {
			t.Errorf("%s: lag of %v, owns %v", p.ID(), lagged, p.Assigned("registers"))
		}
	}

	// An unreachable member: listed with its error; the map still answers.
	gone := procs[2]
	gone.Isolate(true)
	ans, err := procs[0].Client.ClusterPartitions(ctx)
	if err != nil {
		t.Fatalf("with %s unreachable: %v", gone.ID(), err)
	}
	for _, m := range ans.Members {
		if ok := m.ID != gone.ID(); m.OK != ok || (m.Error == "") != ok {
			t.Errorf("with %s unreachable: member %+v", gone.ID(), m)
		}
	}
	for _, info := range ans.Entities["registers"].ByPartition {
		if slices.Contains(info.Standbys, gone.ID()) || (info.Owner == gone.ID()) != (info.Lag == nil) {
			t.Errorf("with %s unreachable: partition %+v", gone.ID(), info)
		}
	}
	gone.Isolate(false)

	// A node leaves: the map shows it gone and the rebalance.
	revBefore := map[string]int64{} // each node counts its own revisions
	for _, n := range c.Nodes() {
		revBefore[n.ID()] = n.Ownership().Snapshot().Revision
	}
	gone.Stop(t)
	procs = procs[:2]
	c.WaitRebalanced(60 * time.Second)
	for _, asked := range []*eventfoldtest.Node{procs[1], replica} {
		eventfoldtest.Eventually(t, 60*time.Second, func() error {
			ans, err := asked.Client.ClusterPartitions(ctx)
			if err != nil {
				return err
			}
			if err := checkPartitionsLagAside(ans, procs, replica); err != nil {
				return fmt.Errorf("asked %s: %w", asked.ID(), err)
			}
			last := ans.Rebalances[len(ans.Rebalances)-1]
			if last.Revision <= revBefore[asked.ID()] {
				return fmt.Errorf("asked %s: last rebalance %+v, want one after revision %d", asked.ID(), last, revBefore[asked.ID()])
			}
			return nil
		})
	}
}

// checkPartitionsLagAside is checkPartitions for a map just after a
// rebalance: a partition whose new owner has been given no record of it
// since has no lag yet (null).
func checkPartitionsLagAside(ans interactive.PartitionsResponse, procs []*eventfoldtest.Node, replica *eventfoldtest.Node) error {
	for e, pm := range ans.Entities {
		for i, info := range pm.ByPartition {
			if info.Lag == nil {
				zero := int64(0)
				info.Lag = &zero
				pm.ByPartition[i] = info
			}
		}
		ans.Entities[e] = pm
	}
	return checkPartitions(ans, procs, replica)
}

// deadLetterWant is what a dead letter should say about its event.
type deadLetterWant struct {
	key, reason, value, encoding string
	truncated                    bool
}

// GET /v1/deadletters/{entity} pages through the dead letters, each
// exactly once, with the reason and the source the fold recorded; dead
// letters written while paging come on a later page; bad input is 400.
func TestDeadLettersPageThroughEachOnce(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	c := eventfoldtest.StartNodes(t, k, 1, []entity.Definition{orders.Entity}, nil)
	n := c.Nodes()[0]
	ctx := eventfoldtest.Context(t, 3*time.Minute)
	want := map[string]deadLetterWant{} // by source "partition/offset"
	pos := func(p int32, o int64) string { return fmt.Sprintf("%d/%d", p, o) }

	// Valid events that Evolve refuses: an order that does not exist
	// cannot ship.
	shipped := `{"type":"OrderShipped"}`
	appendInvalid := func(id string) {
		t.Helper()
		a, err := n.Client.Append(ctx, "orders", id, []byte(shipped))
		if err != nil {
			t.Fatal(err)
		}
		want[pos(a.Partition, a.Offset)] = deadLetterWant{id, string(entity.ReasonEvolve), shipped, "text", false}
	}
	for i := range 5 {
		appendInvalid(fmt.Sprint("o-", i))
	}
	// Garbage other producers wrote to the events topic.
	pr, err := kafka.NewProducer(k.Brokers, eventfoldtest.SaramaConfig(), kafka.FNV1a)
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	long := strings.Repeat("x", 10_000)
	bin := []byte{0xff, 0xfe, 0, 1}
	for _, g := range []struct {
		key   string
		value []byte
		want  deadLetterWant
	}{
		{"g-1", []byte("not json"), deadLetterWant{"g-1", string(entity.ReasonDecode), "not json", "text", false}},
		{"g-2", bin, deadLetterWant{"g-2", string(entity.ReasonDecode), base64.StdEncoding.EncodeToString(bin), "base64", false}},
		{"g-3", []byte(long), deadLetterWant{"g-3", string(entity.ReasonDecode), long[:limits.DeadLetterValueBytes], "text", true}},
		{"", []byte(shipped), deadLetterWant{"", string(entity.ReasonNoKey), shipped, "text", false}},
	} {
		p, err := pr.Send(ctx, kafka.Record{Topic: "orders-events", Key: g.key, Value: g.value})
		if err != nil {
			t.Fatal(err)
		}
		want[pos(p.Partition, p.Offset)] = g.want
	}
	waitDeadLetters := func(n *eventfoldtest.Node, count int) {
		t.Helper()
		eventfoldtest.Eventually(t, 60*time.Second, func() error {
			page, err := n.Client.DeadLetters(ctx, "orders", "", limits.DeadLetterPageItems)
			if err != nil {
				return err
			}
			if len(page.DeadLetters) != count || page.Next != nil {
				return fmt.Errorf("%d dead letters (next %v), want %d", len(page.DeadLetters), page.Next, count)
			}
			return nil
		})
	}
	waitDeadLetters(n, len(want))

	// Page through two by two; one more dead letter comes in meanwhile.
	seen := map[string]int{}
	after, pages := "", 0
	for {
		page, err := n.Client.DeadLetters(ctx, "orders", after, 2)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if page.Entity != "orders" || page.Topic != "orders-events-dlq" || page.Limit != 2 || len(page.DeadLetters) == 0 || len(page.DeadLetters) > 2 {
			t.Fatalf("page %d: %s %s limit %d, %d dead letters", pages, page.Entity, page.Topic, page.Limit, len(page.DeadLetters))
		}
		for i, dl := range page.DeadLetters {
			if i > 0 {
				if prev := page.DeadLetters[i-1]; prev.Partition > dl.Partition || (prev.Partition == dl.Partition && prev.Offset >= dl.Offset) {
					t.Errorf("page %d: %d/%d after %d/%d", pages, dl.Partition, dl.Offset, prev.Partition, prev.Offset)
				}
			}
			if dl.SourcePartition == nil || dl.SourceOffset == nil {
				t.Fatalf("dead letter %d/%d without a source: %+v", dl.Partition, dl.Offset, dl)
			}
			src := pos(*dl.SourcePartition, *dl.SourceOffset)
			seen[src]++
			w, ok := want[src]
			if !ok {
				t.Errorf("a dead letter of %s, which was not sent: %+v", src, dl)
				continue
			}
			if dl.Key != w.key || dl.Reason != w.reason || dl.Value != w.value || dl.ValueEncoding != w.encoding || dl.ValueTruncated != w.truncated ||
				dl.SourceTopic != "orders-events" || dl.Error == "" || dl.Timestamp.IsZero() || dl.ValueOmitted != nil || dl.KeyOmitted != nil {
				t.Errorf("dead letter of %s: key %q reason %q value %d bytes %s truncated %v, error %q; want key %q reason %q value %d bytes %s truncated %v",
					src, dl.Key, dl.Reason, len(dl.Value), dl.ValueEncoding, dl.ValueTruncated, dl.Error, w.key, w.reason, len(w.value), w.encoding, w.truncated)
			}
			if w.reason == string(entity.ReasonEvolve) && dl.EventType != "OrderShipped" {
				t.Errorf("dead letter of %s: event type %q", src, dl.EventType)
			}
		}
		if page.Next == nil {
			break
		}
		after = *page.Next
		if pages == 1 {
			appendInvalid("o-late")
			waitDeadLetters(n, len(want))
		}
		if pages > 20 {
			t.Fatal("no end after 20 pages")
		}
	}
	for src := range want {
		if seen[src] != 1 {
			t.Errorf("the dead letter of %s came %d times", src, seen[src])
		}
	}
	t.Logf("%d dead letters in %d pages", len(want), pages)
	if min := (len(want) + 1) / 2; pages < min {
		t.Errorf("%d pages for %d dead letters two by two", pages, len(want))
	}

	// ?key= keeps one entity's dead letters, across as many pages as the
	// bytes bound makes.
	var mine []interactive.DeadLetter
	for after := ""; ; {
		var page interactive.DeadLettersResponse
		u := n.URL() + "/v1/deadletters/orders?limit=500&key=o-3"
		if after != "" {
			u += "&after=" + url.QueryEscape(after)
		}
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("?key=o-3: %d %v", resp.StatusCode, err)
		}
		mine = append(mine, page.DeadLetters...)
		if page.Next == nil {
			break
		}
		after = *page.Next
	}
	if len(mine) != 1 || mine[0].Key != "o-3" || mine[0].Reason != string(entity.ReasonEvolve) {
		t.Errorf("?key=o-3: %+v, want its one evolve dead letter", mine)
	}

	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for _, tc := range []struct {
		name, method, path string
		status             int
		code               string
	}{
		{"default page", "GET", "/v1/deadletters/orders", 200, ""},
		{"unknown entity", "GET", "/v1/deadletters/nope", 404, interactive.CodeNotFound},
		{"cursor not base64", "GET", "/v1/deadletters/orders?after=%21%21", 400, interactive.CodeInvalid},
		{"cursor not pairs", "GET", "/v1/deadletters/orders?after=" + b64("0:x"), 400, interactive.CodeInvalid},
		{"cursor of another topic", "GET", "/v1/deadletters/orders?after=" + b64("0:1,99:3"), 400, interactive.CodeInvalid},
		{"empty cursor", "GET", "/v1/deadletters/orders?after=", 400, interactive.CodeInvalid},
		{"limit 0", "GET", "/v1/deadletters/orders?limit=0", 400, interactive.CodeInvalid},
		{"limit over", "GET", fmt.Sprintf("/v1/deadletters/orders?limit=%d", limits.DeadLetterPageItems+1), 400, interactive.CodeInvalid},
		{"limit not a number", "GET", "/v1/deadletters/orders?limit=ten", 400, interactive.CodeInvalid},
		{"limit twice", "GET", "/v1/deadletters/orders?limit=1&limit=2", 400, interactive.CodeInvalid},
		{"unknown parameter", "GET", "/v1/deadletters/orders?offset=3", 400, interactive.CodeInvalid},
		{"post", "POST", "/v1/deadletters/orders", 405, interactive.CodeInvalid},
		{"partitions post", "POST", "/v1/cluster/partitions", 405, interactive.CodeInvalid},
		{"partitions with a parameter", "GET", "/v1/cluster/partitions?x=1", 400, interactive.CodeInvalid},
		{"whoami post", "POST", "/v1/whoami", 405, interactive.CodeInvalid},
		{"whoami with a parameter", "GET", "/v1/whoami?x=1", 400, interactive.CodeInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(ctx, tc.method, n.URL()+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var body struct {
				Code        string
				DeadLetters []json.RawMessage `json:"dead_letters"`
				Next        *string
			}
			_ = jsonDecode(resp, &body)
			if resp.StatusCode != tc.status || body.Code != tc.code {
				t.Errorf("%s %s = %d %q, want %d %q", tc.method, tc.path, resp.StatusCode, body.Code, tc.status, tc.code)
			}
			if tc.name == "default page" && (len(body.DeadLetters) != len(want) || body.Next != nil) {
				t.Errorf("the default page holds %d dead letters (next %v), want all %d", len(body.DeadLetters), body.Next, len(want))
			}
		})
	}
	if _, err := n.Client.DeadLetters(ctx, "orders", "garbage!", 0); !errors.Is(err, eventfold.ErrInvalid) {
		t.Errorf("a bad cursor through the client: %v, want ErrInvalid", err)
	}
	if _, err := n.Client.DeadLetters(ctx, "a/b", "", 0); !errors.Is(err, eventfold.ErrNotFound) {
		t.Errorf("an entity type with a slash: %v, want ErrNotFound", err)
	}
}

// GET /v1/whoami says what the caller's token allows; with no tokens the
// API is open: admin, auth false. Forwards between nodes (the partition
// map's asks) keep working with tokens on.
func TestWhoAmI(t *testing.T) {
	t.Run("open", func(t *testing.T) {
		k := eventfoldtest.NewKafka(t, 1)
		c := eventfoldtest.StartNodes(t, k, 1, entities(), nil)
		got, err := c.Nodes()[0].Client.WhoAmI(context.Background())
		if err != nil || got != (interactive.WhoAmIResponse{Scope: "admin", Auth: false}) {
			t.Errorf("whoami without tokens = %+v, %v", got, err)
		}
	})
	t.Run("tokens", func(t *testing.T) {
		const file = "read read-token-0123456789\nwrite write-token-0123456789\nadmin admin-token-0123456789\n"
		tokens, err := interactive.ParseTokens(strings.NewReader(file))
		if err != nil {
			t.Fatal(err)
		}
		k := eventfoldtest.NewKafka(t, 1)
		c := eventfoldtest.StartNodes(t, k, 2, entities(), func(cfg *node.Config) {
			cfg.Tokens = tokens
			cfg.ClusterSecret = []byte("cluster-secret-0123456789")
		})
		n := c.Nodes()[0]
		ctx := eventfoldtest.Context(t, time.Minute)
		for _, tc := range []struct {
			token, scope string
		}{{"read-token-0123456789", "read"}, {"write-token-0123456789", "write"}, {"admin-token-0123456789", "admin"}} {
			cl := interactive.NewClient(n.URL(), tc.token)
			got, err := cl.WhoAmI(ctx)
			if err != nil || got != (interactive.WhoAmIResponse{Scope: tc.scope, Auth: true}) {
				t.Errorf("whoami with a %s token = %+v, %v", tc.scope, got, err)
			}
		}
		for _, token := range []string{"", "wrong-token-0123456789"} {
			if _, err := interactive.NewClient(n.URL(), token).WhoAmI(ctx); !errors.Is(err, interactive.ErrUnauthorized) {
				t.Errorf("whoami with token %q: %v, want 401", token, err)
			}
		}
		// A read token reads the console's routes; the node asks the other
		// with its peer signature.
		reader := interactive.NewClient(n.URL(), "read-token-0123456789")
		ans, err := reader.ClusterPartitions(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(ans.Members) != 2 {
			t.Errorf("members %+v, want 2", ans.Members)
		}
		for _, m := range ans.Members {
			if !m.OK {
				t.Errorf("with tokens: member %+v", m)
			}
		}
		if _, err := reader.DeadLetters(ctx, "registers", "", 0); err != nil {
			t.Errorf("dead letters with a read token: %v", err)
		}
		if _, err := interactive.NewClient(n.URL(), "").DeadLetters(ctx, "registers", "", 0); !errors.Is(err, interactive.ErrUnauthorized) {
			t.Errorf("dead letters without a token: %v, want 401", err)
		}
	})
}

// Routes with the shape of an entity's (GET /v1/deadletters/{entity},
// /v1/cluster, …): no entity type may have their first segment, whose
// reads or list they would shadow.
func TestAnEntityTypeWithAReservedNameIsRefused(t *testing.T) {
	for _, name := range []string{"deadletters", "cluster", "subscribers", "whoami", "projections"} {
		d := registers
		d.Name = name
		_, err := node.New(node.Config{Brokers: []string{"127.0.0.1:1"}, Entities: []entity.Definition{d}, HTTPAddr: "127.0.0.1:0", DataDir: t.TempDir()})
		if !errors.Is(err, eventfold.ErrInvalid) || !strings.Contains(err.Error(), name) {
			t.Errorf("an entity type named %s: %v, want ErrInvalid", name, err)
		}
	}
}
