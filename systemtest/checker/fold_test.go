package checker

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

// rec builds a users record at offset off; cmd = "id expected i/n" or "".
func rec(off int64, value, cmd string) Record {
	r := Record{Topic: "users-events", Partition: 0, Offset: off, Key: "u1", Value: []byte(value), Headers: map[string]string{}}
	if cmd != "" {
		var id, batch string
		var exp int
		fmt.Sscanf(cmd, "%s %d %s", &id, &exp, &batch)
		r.Headers[hdrCommandID] = id
		r.Headers[hdrExpected] = fmt.Sprint(exp)
		r.Headers[hdrBatch] = batch
	}
	return r
}

const (
	created = `{"type":"UserCreated","name":"Ann","email":"a@x"}`
	login1  = `{"type":"UserLoggedIn","at":"2024-01-01T00:00:01Z"}`
	login2  = `{"type":"UserLoggedIn","at":"2024-01-01T00:00:02Z"}`
	roleA   = `{"type":"RoleAssigned","role":"a"}`
	badAt   = `{"type":"UserLoggedIn","at":"yesterday"}`
)

// The command header rule of DESIGN.md, case by case: which events apply.
func TestFoldCommandRule(t *testing.T) {
	cases := []struct {
		name    string
		recs    []Record
		applied []bool
		logins  int
	}{
		{"plain events apply when Evolve accepts them",
			[]Record{rec(0, created, ""), rec(1, login1, ""), rec(2, badAt, ""), rec(3, created, "")},
			[]bool{true, true, false, false}, 1},
		{"event 0 only on the expected version",
			[]Record{rec(0, created, ""), rec(1, login1, "c1 0 0/1"), rec(2, login1, "c2 1 0/1")},
			[]bool{true, false, true}, 1},
		{"a command applies all or nothing with its last event",
			[]Record{rec(0, created, ""), rec(1, login1, "c1 1 0/2"), rec(2, login2, "c1 1 1/2")},
			[]bool{true, true, true}, 2},
		{"an unfinished command applies nothing",
			[]Record{rec(0, created, ""), rec(1, login1, "c1 1 0/2")},
			[]bool{true, false}, 0},
		{"event i>0 only after event i-1 of the same command",
			[]Record{rec(0, created, ""), rec(1, login1, "c1 1 1/2"), rec(2, login1, "c2 1 0/2"), rec(3, login2, "c3 1 1/2")},
			[]bool{true, false, false, false}, 0},
		{"a plain event in the middle aborts the command",
			[]Record{rec(0, created, ""), rec(1, login1, "c1 1 0/2"), rec(2, roleA, ""), rec(3, login2, "c1 1 1/2")},
			[]bool{true, false, true, false}, 0},
		{"an event Evolve rejects aborts its command",
			[]Record{rec(0, created, ""), rec(1, login1, "c1 1 0/3"), rec(2, badAt, "c1 1 1/3"), rec(3, login2, "c1 1 2/3")},
			[]bool{true, false, false, false}, 0},
		{"two commands on one version: the first complete one wins",
			[]Record{rec(0, created, ""), rec(1, login1, "c1 1 0/1"), rec(2, login2, "c2 1 0/1")},
			[]bool{true, true, false}, 1},
		{"malformed headers are not applied",
			[]Record{rec(0, created, ""), rec(1, login1, "c1 1 2/2"), rec(2, login1, "c1 x 0/1")},
			[]bool{true, false, false}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := FoldTopics(map[string][]Record{"users": c.recs})
			if err != nil {
				t.Fatal(err)
			}
			e := f.Entities["users"]["u1"]
			var want uint64
			for i, ev := range e.Events {
				if ev.Applied != c.applied[i] {
					t.Errorf("event %d (offset %d): applied %v, want %v", i, ev.Offset, ev.Applied, c.applied[i])
				}
				if c.applied[i] {
					want++
				}
				if ev.Version != want {
					t.Errorf("event %d: version %d, want %d", i, ev.Version, want)
				}
			}
			if e.Version != want {
				t.Errorf("version %d, want %d", e.Version, want)
			}
			wantState := fmt.Sprintf(`{"name":"Ann","email":"a@x","logins":%d`, c.logins)
			if c.logins > 0 {
				wantState += fmt.Sprintf(`,"last_login":"2024-01-01T00:00:0%dZ"`, c.logins)
			}
			if c.name == "a plain event in the middle aborts the command" {
				wantState += `,"roles":["a"]`
			}
			if !sameJSON(e.State, []byte(wantState+"}")) {
				t.Errorf("state %s, want %s}", e.State, wantState)
			}
		})
	}
}

// StateAt folds up to the n-th applied event, inside a command too.
func TestStateAt(t *testing.T) {
	f, err := FoldTopics(map[string][]Record{"users": {rec(0, created, ""), rec(1, roleA, "c9 1 0/1"),
		rec(2, login1, "c1 2 0/2"), rec(3, badAt, ""), rec(4, login1, "c2 2 0/2"), rec(5, login2, "c2 2 1/2")}})
	if err != nil {
		t.Fatal(err)
	}
	for n, want := range map[uint64]string{
		1: `{"name":"Ann","email":"a@x","logins":0}`,
		2: `{"name":"Ann","email":"a@x","roles":["a"],"logins":0}`,
		3: `{"name":"Ann","email":"a@x","roles":["a"],"logins":1,"last_login":"2024-01-01T00:00:01Z"}`,
		4: `{"name":"Ann","email":"a@x","roles":["a"],"logins":2,"last_login":"2024-01-01T00:00:02Z"}`,
	} {
		got, _, ok := f.StateAt("users", "u1", n)
		if !ok || !sameJSON(got, []byte(want)) {
			t.Errorf("StateAt(%d) = %s %v, want %s", n, got, ok, want)
		}
	}
	if _, off, _ := f.StateAt("users", "u1", 3); off != 4 {
		t.Errorf("offset of version 3 = %d, want 4", off)
	}
	if _, _, ok := f.StateAt("users", "u1", 5); ok {
		t.Error("StateAt beyond the version answered")
	}
}

// The order rules, on the lifecycle's edges.
func TestFoldOrders(t *testing.T) {
	o := func(off int64, v string) Record {
		return Record{Topic: "orders-events", Offset: off, Key: "o1", Value: []byte(v), Headers: map[string]string{}}
	}
	recs := []Record{
		o(0, `{"type":"ItemAdded","sku":"A","quantity":1,"price_cents":5}`), // before creation
		o(1, `{"type":"OrderCreated","customer_id":"c1","created_at":"2024-01-01T00:00:00Z"}`),
		o(2, `{"type":"OrderApproved"}`), // no items
		o(3, `{"type":"ItemAdded","sku":"B","quantity":2,"price_cents":100}`),
		o(4, `{"type":"ItemAdded","sku":"A","quantity":1,"price_cents":5}`),
		o(5, `{"type":"ItemAdded","sku":"A","quantity":1,"price_cents":5}`), // duplicate sku
		o(6, `{"type":"QuantityChanged","sku":"B","quantity":3}`),
		o(7, `{"type":"QuantityChanged","sku":"C","quantity":3}`), // unknown sku
		o(8, `{"type":"OrderShipped"}`),                           // not approved
		o(9, `{"type":"OrderApproved","approved_by":"ana"}`),
		o(10, `{"type":"ItemAdded","sku":"D","quantity":1,"price_cents":5}`), // approved: no edits
		o(11, `{"type":"OrderShipped","carrier":"DHL","tracking_number":"T1"}`),
		o(12, `{"type":"OrderCancelled","reason":"late"}`), // shipped
		o(13, `{"type":"NoSuchEvent"}`),
		o(14, `not json`),
	}
	f, err := FoldTopics(map[string][]Record{"orders": recs})
	if err != nil {
		t.Fatal(err)
	}
	e := f.Entities["orders"]["o1"]
	want := `{"status":"shipped","customer_id":"c1","created_at":"2024-01-01T00:00:00Z","items":[{"sku":"A","quantity":1,"price_cents":5},{"sku":"B","quantity":3,"price_cents":100}],"total_cents":305,"approved_by":"ana","carrier":"DHL","tracking_number":"T1"}`
	if e.Version != 6 || e.Offset != 11 || !sameJSON(e.State, []byte(want)) {
		t.Errorf("version %d offset %d state %s\nwant version 6 offset 11 state %s", e.Version, e.Offset, e.State, want)
	}
}

// The PurchaseRecorded rules, on their edges: each record applied or not,
// and the state JSON byte for byte what eventfold's users state encodes to
// (the same field names, order and omitempty: see demo/users'
// TestStateJSON, whose last case is the second one here).
func TestFoldUserPurchases(t *testing.T) {
	const ada = `{"type":"UserCreated","name":"Ada Lovelace","email":"ada@example.com"}`
	buy := func(order string, total int64) string {
		return fmt.Sprintf(`{"type":"PurchaseRecorded","order_id":%q,"total_cents":%d}`, order, total)
	}
	cases := []struct {
		name   string
		values []string
		// applied[i]: whether values[i] applies.
		applied []bool
		state   string
	}{
		{"rules",
			[]string{
				buy("order-000001", 2599), // before creation
				ada,
				buy("order-000001", 2599),
				buy("", 5),                       // no order id
				buy(strings.Repeat("o", 129), 5), // order id too long
				buy(strings.Repeat("o", 128), 1),
				buy("order-000002", -1), // negative total
				buy("order-000002", 0),  // free: counts, adds nothing
				buy("big", math.MaxInt64),
				buy("order-000002", 1000), // the same order again counts again
				`{"type":"UserDeleted","reason":"user request"}`,
				buy("order-000003", 1), // deleted
				`{"type":"PurchaseRecorded","order_id":"order-000003","total_cents":"1"}`,
			},
			[]bool{false, true, true, false, false, true, false, true, false, true, true, false, false},
			`{"name":"Ada Lovelace","email":"ada@example.com","deleted":true,"delete_reason":"user request","logins":0,"purchases":4,"lifetime_cents":3600}`},
		{"with the other fields",
			[]string{ada, `{"type":"RoleAssigned","role":"admin"}`, `{"type":"UserLoggedIn","at":"2024-01-01T10:00:00Z"}`,
				buy("order-000001", 2599), `{"type":"UserDeleted","reason":"user request"}`},
			[]bool{true, true, true, true, true},
			`{"name":"Ada Lovelace","email":"ada@example.com","deleted":true,"delete_reason":"user request",` +
				`"roles":["admin"],"logins":1,"last_login":"2024-01-01T10:00:00Z","purchases":1,"lifetime_cents":2599}`},
		{"lifetime up to the int64 limit and no further",
			[]string{ada, buy("big", math.MaxInt64-1), buy("one", 1), buy("free", 0), buy("one more", 1)},
			[]bool{true, true, true, true, false},
			fmt.Sprintf(`{"name":"Ada Lovelace","email":"ada@example.com","logins":0,"purchases":3,"lifetime_cents":%d}`, int64(math.MaxInt64))},
		{"a free purchase only: lifetime_cents omitted",
			[]string{ada, buy("order-000003", 0)},
			[]bool{true, true},
			`{"name":"Ada Lovelace","email":"ada@example.com","logins":0,"purchases":1}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var recs []Record
			for i, v := range c.values {
				recs = append(recs, rec(int64(i), v, ""))
			}
			f, err := FoldTopics(map[string][]Record{"users": recs})
			if err != nil {
				t.Fatal(err)
			}
			e := f.Entities["users"]["u1"]
			if len(e.Events) != len(c.values) {
				t.Fatalf("%d events folded, want %d", len(e.Events), len(c.values))
			}
			for i, ev := range e.Events {
				if ev.Applied != c.applied[i] {
					t.Errorf("record %d %s: applied %v, want %v", i, c.values[i], ev.Applied, c.applied[i])
				}
			}
			if string(e.State) != c.state {
				t.Errorf("state\n%s\nwant\n%s", e.State, c.state)
			}
		})
	}
}
