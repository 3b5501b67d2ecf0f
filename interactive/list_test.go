package interactive_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eventfold/eventfold"
	"github.com/eventfold/eventfold/eventfoldtest"
	"github.com/eventfold/eventfold/interactive"
)

// listAll pages through GET /v1/registers on n and returns every item, in
// the order the pages gave them; each page is checked to be in key order.
func listAll(t *testing.T, c *interactive.Client, o interactive.ListOptions, between func(page int)) []interactive.ListItem {
	t.Helper()
	var out []interactive.ListItem
	for page := 0; ; page++ {
		r, err := c.List(context.Background(), "registers", o)
		if err != nil {
			t.Fatalf("page %d: %v", page, err)
		}
		if !slices.IsSortedFunc(r.Items, func(a, b interactive.ListItem) int { return strings.Compare(a.ID, b.ID) }) {
			t.Fatalf("page %d not in key order", page)
		}
		if o.Limit > 0 && len(r.Items) > o.Limit {
			t.Fatalf("page %d has %d items, limit %d", page, len(r.Items), o.Limit)
		}
		out = append(out, r.Items...)
		if r.Next == nil {
			return out
		}
		if len(r.Items) == 0 {
			t.Fatalf("page %d is empty and has a next", page)
		}
		o.After = *r.Next
		if between != nil {
			between(page)
		}
	}
}

func TestListPagesEveryEntityInKeyOrder(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 2)
	c := eventfoldtest.StartNodes(t, k, 3, entities(), nil)
	const keys = 1000
	load(t, k, keys, func(i int) string { return fmt.Sprint("value-", i) })
	nodes := c.Nodes()
	waitListed(t, nodes[0].Client, keys)

	want := make([]string, keys)
	for i := range want {
		want[i] = fmt.Sprintf("r-%d", i)
	}
	slices.Sort(want)
	for _, n := range nodes {
		items := listAll(t, n.Client, interactive.ListOptions{Limit: 37}, nil)
		ids := make([]string, len(items))
		for i, it := range items {
			ids[i] = it.ID
			var v int
			fmt.Sscanf(it.ID, "r-%d", &v)
			if string(it.State) != fmt.Sprintf(`{"v":"value-%d"}`, v) || it.Version != 1 || it.Stale {
				t.Fatalf("%s: %+v", n.ID(), it)
			}
		}
		if !slices.Equal(ids, want) {
			t.Fatalf("%s listed %d ids, want %d in key order", n.ID(), len(ids), len(want))
		}
	}

	// A prefix, without states, in one page and in pages of 3.
	var wantPrefix []string
	for _, id := range want {
		if strings.HasPrefix(id, "r-99") {
			wantPrefix = append(wantPrefix, id)
		}
	}
	for _, limit := range []int{1000, 3} {
		items := listAll(t, nodes[1].Client, interactive.ListOptions{Prefix: "r-99", Limit: limit, NoState: true}, nil)
		var ids []string
		for _, it := range items {
			ids = append(ids, it.ID)
			if it.State != nil {
				t.Fatalf("state=false listed a state: %+v", it)
			}
		}
		if !slices.Equal(ids, wantPrefix) {
			t.Fatalf("prefix r-99, limit %d: %v, want %v", limit, ids, wantPrefix)
		}
	}
	// Nothing with the prefix: one empty page, no next.
	r, err := nodes[2].Client.List(context.Background(), "registers", interactive.ListOptions{Prefix: "zz"})
	if err != nil || len(r.Items) != 0 || r.Next != nil {
		t.Fatalf("prefix zz: %+v, %v", r, err)
	}
}

// Large states: each partition's share of a page is cut by bytes (a few
// items), not by the limit, so the merge must stop at the smallest last id
// of the partitions that have more, or the ids between are skipped.
func TestListPagesCutByBytes(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	c := eventfoldtest.StartNodes(t, k, 2, entities(), nil)
	const keys = 300
	big := strings.Repeat("x", 20_000)
	load(t, k, keys, func(i int) string { return fmt.Sprint(i, big) })
	n := c.Nodes()[0]
	waitListed(t, n.Client, keys)
	pages := 0
	items := listAll(t, n.Client, interactive.ListOptions{Limit: 100}, func(int) { pages++ })
	seen := map[string]bool{}
	for _, it := range items {
		var v int
		fmt.Sscanf(it.ID, "r-%d", &v)
		if seen[it.ID] || string(it.State) != fmt.Sprintf(`{"v":"%d%s"}`, v, big) {
			t.Fatalf("%s listed twice or with the wrong state", it.ID)
		}
		seen[it.ID] = true
	}
	if len(seen) != keys {
		t.Fatalf("listed %d of %d ids in %d pages", len(seen), keys, pages+1)
	}
	if pages+1 <= keys/100 {
		t.Fatalf("%d pages: the bytes did not cut them", pages+1)
	}
}

func TestListRefusesBadInput(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	c := eventfoldtest.StartNodes(t, k, 1, entities(), nil)
	n := c.Nodes()[0]
	load(t, k, 10, func(i int) string { return "v" })
	waitListed(t, n.Client, 10)
	// A cursor is good only for the prefix it was made with.
	page, err := n.Client.List(context.Background(), "registers", interactive.ListOptions{Limit: 1})
	if err != nil || page.Next == nil {
		t.Fatalf("first page: %+v, %v", page, err)
	}
	for _, q := range []string{
		"limit=0", "limit=1001", "limit=x", "state=maybe", "consistency=now",
		"after=%%", "after=bm90LWpzb24", "prefix=a%00b", "partitions=0", "bogus=1", "limit=1&limit=2",
		"prefix=r&after=" + url.QueryEscape(*page.Next),
	} {
		resp, err := http.Get(n.URL() + "/v1/registers?" + q)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("?%s: %d, want 400", q, resp.StatusCode)
		}
	}
	// partitions= is a peer's (hop header): each partition once, at most
	// as many as there are.
	many := "0"
	for p := 1; p <= 12; p++ {
		many += fmt.Sprint(",", p)
	}
	for q, want := range map[string]int{"partitions=0,0": 400, "partitions=" + many: 400, "partitions=0,1,11": 200} {
		req, _ := http.NewRequest(http.MethodGet, n.URL()+"/v1/registers?"+q, nil)
		req.Header.Set(interactive.HeaderHop, "test")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("?%s from a peer: %d, want %d", q, resp.StatusCode, want)
		}
	}
	_, err = n.Client.List(context.Background(), "nosuch", interactive.ListOptions{})
	if !errors.Is(err, eventfold.ErrNotFound) {
		t.Errorf("unknown entity type: %v", err)
	}
}

// The check: a listing that runs across rebalances (a node joins,
// another leaves) returns each of 20,000 entities exactly once.
func TestListAcrossARebalanceReturnsEachEntityOnce(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 2)
	c := eventfoldtest.StartNodes(t, k, 2, entities(), nil)
	const keys = 20_000
	load(t, k, keys, func(i int) string { return fmt.Sprint("value-", i) })
	nodes := c.Nodes()
	waitListed(t, nodes[0].Client, keys)

	lister := nodes[0]
	revisions := map[int64]bool{}
	var added *eventfoldtest.Node
	items := listAll(t, lister.Client, interactive.ListOptions{Limit: 100, NoState: true}, func(page int) {
		revisions[lister.Ownership().Snapshot().Revision] = true
		switch page {
		case 20:
			added = c.AddNode()
		case 120:
			nodes[1].Stop(t) // leaves: its partitions move to the others
		}
		if page >= 20 && page < 60 || page >= 120 && page < 160 {
			// Pacing, not a wait: pages are gathered while the group
			// rebalances, not only after it (asserted below).
			time.Sleep(25 * time.Millisecond)
		}
	})
	seen := make(map[string]int, keys)
	for _, it := range items {
		seen[it.ID]++
	}
	var twice, missing int
	for i := range keys {
		switch seen[fmt.Sprintf("r-%d", i)] {
		case 0:
			missing++
		case 1:
		default:
			twice++
		}
	}
	if missing != 0 || twice != 0 || len(seen) != keys {
		t.Fatalf("listed %d items, %d distinct ids: %d missing, %d twice", len(items), len(seen), missing, twice)
	}
	if len(revisions) < 2 || added == nil || len(added.Assigned("registers")) == 0 {
		t.Fatalf("the listing did not span a rebalance: %d ownership revisions seen", len(revisions))
	}
	t.Logf("%d ids in %d items, each once; the lister saw %d ownership revisions", len(seen), len(items), len(revisions))
}

// waitListed waits until a listing of registers holds keys ids: every
// partition has folded its share.
func waitListed(t *testing.T, c *interactive.Client, keys int) {
	t.Helper()
	eventfoldtest.Eventually(t, 60*time.Second, func() error {
		n := 0
		o := interactive.ListOptions{Limit: 1000, NoState: true}
		for {
			r, err := c.List(context.Background(), "registers", o)
			if err != nil {
				return err
			}
			n += len(r.Items)
			if r.Next == nil {
				break
			}
			o.After = *r.Next
		}
		if n != keys {
			return fmt.Errorf("%d of %d listed", n, keys)
		}
		return nil
	})
}
