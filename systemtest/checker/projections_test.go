package checker

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// ev builds a record of topic at offset off for key; cmd = "id expected
// i/n" or "" (as rec).
func ev(topic, key string, off int64, value, cmd string) Record {
	r := rec(off, value, cmd)
	r.Topic, r.Key = topic, key
	return r
}

// projectionFixture: orders and users with the projections' edge cases.
func projectionFixture(t *testing.T) *Fold {
	t.Helper()
	o := func(key string, off int64, v string) Record { return ev("orders-events", key, off, v, "") }
	u := func(key string, off int64, v string) Record { return ev("users-events", key, off, v, "") }
	created := func(c string) string { return fmt.Sprintf(`{"type":"OrderCreated","customer_id":%q}`, c) }
	item := func(sku string, q int, p int64) string {
		return fmt.Sprintf(`{"type":"ItemAdded","sku":%q,"quantity":%d,"price_cents":%d}`, sku, q, p)
	}
	user := func(n string) string { return fmt.Sprintf(`{"type":"UserCreated","name":%q,"email":"%s@x"}`, n, n) }
	assign := func(r string) string { return fmt.Sprintf(`{"type":"RoleAssigned","role":%q}`, r) }
	unassign := func(r string) string { return fmt.Sprintf(`{"type":"RoleUnassigned","role":%q}`, r) }
	orders := []Record{
		// o1 of c1: created, approved, shipped: 4 inputs.
		o("o1", 0, created("c1")), o("o1", 1, item("A", 2, 500)), o("o1", 2, `{"type":"OrderApproved"}`), o("o1", 3, `{"type":"OrderShipped"}`),
		// o2 of c1: cancelled: 3 inputs.
		o("o2", 4, created("c1")), o("o2", 5, item("B", 1, 300)), o("o2", 6, `{"type":"OrderCancelled","reason":"r"}`),
		// o3 of c1: still open; shipping it before approval is not applied: 2 inputs.
		o("o3", 7, created("c1")), o("o3", 8, item("C", 1, 50)), o("o3", 9, `{"type":"OrderShipped"}`),
		// o4 of c2: an item before creation and an approval without items
		// are not applied: 1 input.
		o("o4", 10, item("A", 1, 1)), o("o4", 11, created("c2")), o("o4", 12, `{"type":"OrderApproved"}`),
		// o5: never created: no input to anyone.
		o("o5", 13, item("A", 1, 1)),
	}
	users := []Record{
		// u1: admin, billing, admin lost, admin again: admin 3 inputs, billing 1.
		u("u1", 0, user("u1")), u("u1", 1, assign("admin")), u("u1", 2, assign("billing")), u("u1", 3, unassign("admin")), u("u1", 4, assign("admin")),
		// u2: admin and viewer, then deleted (loses both); a role after
		// deletion is not applied.
		u("u2", 5, user("u2")), u("u2", 6, assign("admin")), u("u2", 7, assign("viewer")), u("u2", 8, `{"type":"UserDeleted","reason":"r"}`), u("u2", 9, assign("editor")),
		// u3: viewer assigned and unassigned: viewer is left empty.
		u("u3", 10, user("u3")), u("u3", 11, assign("viewer")), u("u3", 12, unassign("viewer")), u("u3", 13, `{"type":"UserLoggedIn","at":"2024-01-01T00:00:00Z"}`),
		// u4: a role before creation and a role assigned twice: 1 input.
		u("u4", 14, assign("support")), u("u4", 15, user("u4")), u("u4", 16, assign("support")), u("u4", 17, assign("support")),
		// u5: two roles in one command, then an unfinished command (not
		// applied): editor 1, billing 1.
		u("u5", 18, user("u5")), ev("users-events", "u5", 19, assign("editor"), "k1 1 0/2"), ev("users-events", "u5", 20, assign("billing"), "k1 1 1/2"),
		ev("users-events", "u5", 21, assign("support"), "k2 3 0/2"),
	}
	f, err := FoldTopics(map[string][]Record{"orders": orders, "users": users})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestProjections(t *testing.T) {
	got, err := projectionFixture(t).Projections()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]Expected{
		CustomerOrders: {
			"c1": {Version: 9, State: json.RawMessage(`{"open":{"o3":50},"orders":3,"lifetime_cents":1000}`)},
			"c2": {Version: 1, State: json.RawMessage(`{"open":{"o4":0},"orders":1,"lifetime_cents":0}`)},
		},
		UsersByRole: {
			"admin":   {Version: 5, State: json.RawMessage(`{"users":["u1"]}`)},
			"billing": {Version: 2, State: json.RawMessage(`{"users":["u1","u5"]}`)},
			"viewer":  {Version: 4, State: json.RawMessage(`{"users":[]}`)},
			"support": {Version: 1, State: json.RawMessage(`{"users":["u4"]}`)},
			"editor":  {Version: 1, State: json.RawMessage(`{"users":["u5"]}`)},
		},
	}
	for name, keys := range want {
		if len(got[name]) != len(keys) {
			t.Errorf("%s: %d keys %v, want %d", name, len(got[name]), got[name], len(keys))
		}
		for k, w := range keys {
			g, ok := got[name][k]
			if !ok || g.Version != w.Version || string(g.State) != string(w.State) || len(g.Inputs) != int(g.Version) {
				t.Errorf("%s/%s = version %d state %s %d inputs (present %v), want version %d state %s", name, k, g.Version, g.State, len(g.Inputs), ok, w.Version, w.State)
			}
		}
	}
}

// projNode serves GET /v1/projections/{name} in pages of two keys and
// /v1/projections/{name}/{key}, from items.
type projNode struct{ items []ProjectionItem }

func (n *projNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, "/v1/projections/")
	if name, key, ok := strings.Cut(rest, "/"); ok {
		_ = name
		for _, it := range n.items {
			if it.ID == key {
				json.NewEncoder(w).Encode(it)
				return
			}
		}
		http.Error(w, `{"error":"not found"}`, http.StatusNotFound)
		return
	}
	if r.URL.Query().Get("limit") != "1000" {
		http.Error(w, "limit", http.StatusBadRequest)
		return
	}
	from := 0
	if a := r.URL.Query().Get("after"); a != "" {
		from, _ = strconv.Atoi(strings.TrimPrefix(a, "cursor-"))
	}
	end := min(from+2, len(n.items))
	resp := struct {
		Items []ProjectionItem `json:"items"`
		Next  *string          `json:"next"`
	}{Items: n.items[from:end]}
	if end < len(n.items) {
		c := "cursor-" + strconv.Itoa(end)
		resp.Next = &c
	}
	json.NewEncoder(w).Encode(resp)
}

// CompareProjection follows the cursor to the last page and sorts every
// difference into its kind.
// The inputs carry their origins: u2's deletion takes it out of admin
// (its first output) and viewer (its second).
func TestProjectionInputs(t *testing.T) {
	got, err := projectionFixture(t).Projections()
	if err != nil {
		t.Fatal(err)
	}
	var admin, viewer []string
	for _, in := range got[UsersByRole]["admin"].Inputs {
		admin = append(admin, in.String())
	}
	for _, in := range got[UsersByRole]["viewer"].Inputs {
		viewer = append(viewer, in.String())
	}
	wantAdmin := `users/0/1/0 {"holds":true,"user":"u1"},users/0/3/0 {"holds":false,"user":"u1"},users/0/4/0 {"holds":true,"user":"u1"},` +
		`users/0/6/0 {"holds":true,"user":"u2"},users/0/8/0 {"holds":false,"user":"u2"}`
	if strings.Join(admin, ",") != wantAdmin {
		t.Errorf("admin inputs:\n%s\nwant\n%s", strings.Join(admin, ","), wantAdmin)
	}
	if !slices.Contains(viewer, `users/0/8/1 {"holds":false,"user":"u2"}`) {
		t.Errorf("viewer inputs: %v", viewer)
	}
	c1 := got[CustomerOrders]["c1"].Inputs
	if last := c1[len(c1)-1].String(); last != `orders/0/8/0 {"created":false,"order":"o3","shipped":false,"status":"created","total_cents":50}` {
		t.Errorf("c1's last input: %s", last)
	}
	if s := c1[3].String(); s != `orders/0/3/0 {"created":false,"order":"o1","shipped":true,"status":"shipped","total_cents":1000}` {
		t.Errorf("c1's fourth input: %s", s)
	}
}

func TestCompareProjection(t *testing.T) {
	want, err := projectionFixture(t).Projections()
	if err != nil {
		t.Fatal(err)
	}
	roles := want[UsersByRole]
	var exact []ProjectionItem
	for _, k := range sortedKeys(roles) {
		exact = append(exact, ProjectionItem{ID: k, Version: roles[k].Version, State: roles[k].State})
	}
	ctx := context.Background()
	serve := func(items []ProjectionItem) *HTTPNode {
		s := httptest.NewServer(&projNode{items: items})
		t.Cleanup(s.Close)
		return &HTTPNode{ID: "n", URL: s.URL}
	}

	r := CompareProjection(ctx, serve(exact), UsersByRole, roles)
	if r.Differences() != 0 || r.Checked != 5 || r.Listed != 5 {
		t.Fatalf("exact copy: %v", r)
	}
	if fs := CheckProjectionKeys(ctx, serve(exact), UsersByRole, roles, []string{"admin", "viewer"}); len(fs) != 0 {
		t.Fatalf("exact copy, key reads: %v", fs)
	}

	// admin applied twice, billing another state, editor missing, viewer
	// behind, support listed twice, and a key the checker lacks.
	bad := []ProjectionItem{
		{ID: "admin", Version: 6, State: roles["admin"].State},
		{ID: "billing", Version: 2, State: json.RawMessage(`{"users":["u1"]}`)},
		{ID: "ghost", Version: 1, State: json.RawMessage(`{"users":["u9"]}`)},
		{ID: "support", Version: 1, State: roles["support"].State},
		{ID: "support", Version: 1, State: roles["support"].State},
		{ID: "viewer", Version: 3, State: json.RawMessage(`{"users":["u2"]}`)},
	}
	r = CompareProjection(ctx, serve(bad), UsersByRole, roles)
	kinds := map[string][]Finding{"applied twice": r.AppliedTwice, "mismatched": r.Mismatched, "missing": r.Missing,
		"behind": r.Behind, "listed twice": r.Duplicated, "extra": r.Extra}
	wantIDs := map[string]string{"applied twice": "admin", "mismatched": "billing", "missing": "editor", "behind": "viewer",
		"listed twice": "support", "extra": "ghost"}
	for kind, fs := range kinds {
		if len(fs) != 1 || fs[0].ID != wantIDs[kind] {
			t.Errorf("%s: %v, want %s", kind, fs, wantIDs[kind])
		}
	}
	if r.Differences() != 6 || !r.Wrong() || r.Listed != 6 || r.Checked != 5 {
		t.Errorf("%v: %d differences, wrong %v", r, r.Differences(), r.Wrong())
	}
	fs := CheckProjectionKeys(ctx, serve(bad), UsersByRole, roles, []string{"admin", "editor", "support"})
	var ids []string
	for _, f := range fs {
		ids = append(ids, f.ID)
	}
	sort.Strings(ids)
	if strings.Join(ids, ",") != "admin,editor" {
		t.Errorf("key reads: %v", fs)
	}
	if fs := CheckProjectionKeys(ctx, serve(append(bad, ProjectionItem{ID: "no-such-key-in-" + UsersByRole})), UsersByRole, roles, nil); len(fs) != 1 {
		t.Errorf("a key the checker lacks, served: %v", fs)
	}

	// Only behind (a node still folding): differences, nothing wrong.
	behind := append([]ProjectionItem(nil), exact...)
	behind[0].Version--
	if r := CompareProjection(ctx, serve(behind), UsersByRole, roles); r.Wrong() || len(r.Behind) != 1 {
		t.Errorf("behind: %v", r)
	}
	// A node that fails to answer: an error.
	if r := CompareProjection(ctx, &HTTPNode{ID: "down", URL: "http://127.0.0.1:1"}, UsersByRole, roles); len(r.Errors) != 1 {
		t.Errorf("down: %v", r)
	}
}
