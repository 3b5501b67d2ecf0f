package checker

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// cluster is a kfake broker with the demo events topics.
func cluster(t *testing.T, topics ...string) []string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, topics...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

// load produces events (plain and by command) and returns the acks the
// producer got.
func load(t *testing.T, ctx context.Context, brokers []string) []Ack {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	add := func(topic, key, value string, hdr ...string) {
		r := &kgo.Record{Topic: topic, Key: []byte(key), Value: []byte(value)}
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: hdr[i], Value: []byte(hdr[i+1])})
		}
		recs = append(recs, r)
	}
	for i := 0; i < 20; i++ {
		u, o := fmt.Sprintf("user-%02d", i), fmt.Sprintf("order-%02d", i)
		add("users-events", u, fmt.Sprintf(`{"type":"UserCreated","name":"n%d","email":"%d@x"}`, i, i))
		add("users-events", u, `{"type":"UserLoggedIn","at":"2024-01-01T00:00:00Z"}`)
		add("users-events", u, `{"type":"RoleAssigned","role":"admin"}`, hdrCommandID, "c-"+u, hdrExpected, "2", hdrBatch, "0/2")
		add("users-events", u, `{"type":"UserUpdated","name":"renamed"}`, hdrCommandID, "c-"+u, hdrExpected, "2", hdrBatch, "1/2")
		add("orders-events", o, fmt.Sprintf(`{"type":"OrderCreated","customer_id":"user-%02d"}`, i))
		add("orders-events", o, `{"type":"ItemAdded","sku":"MUG","quantity":2,"price_cents":899}`)
		add("orders-events", o, `{"type":"OrderShipped"}`) // not approved: rejected
	}
	var acks []Ack
	for _, res := range cl.ProduceSync(ctx, recs...) {
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		r := res.Record
		a := Ack{Topic: r.Topic, Key: string(r.Key), Partition: r.Partition, Offset: r.Offset, SHA256: Hash(r.Value)}
		acks = append(acks, a)
	}
	return acks
}

// fakeNode serves eventfold's HTTP API from a fold, with alterations.
type fakeNode struct {
	f *Fold
	// alter changes what is served: kind is "get", "history" or "version".
	alter func(kind, typ, id string, v any)
}

func (n *fakeNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/v1/"), "/")
	typ, id := parts[0], parts[1]
	e := n.f.Entities[typ][id]
	if e == nil {
		http.NotFound(w, r)
		return
	}
	var out any
	switch {
	case len(parts) == 3 && parts[2] == "events":
		var list []Listed
		for _, ev := range e.Events {
			list = append(list, Listed{Partition: ev.Partition, Offset: ev.Offset, Applied: ev.Applied, Version: ev.Version})
		}
		n.alter("history", typ, id, &list)
		out = map[string]any{"events": list, "next": nil}
	case r.URL.Query().Get("version") != "":
		v, _ := strconv.ParseUint(r.URL.Query().Get("version"), 10, 64)
		st, off, _ := n.f.StateAt(typ, id, v)
		s := Served{Version: v, Offset: off, State: st}
		n.alter("version", typ, id, &s)
		out = s
	default:
		s := Served{Version: e.Version, Offset: e.Offset, State: e.State}
		n.alter("get", typ, id, &s)
		out = s
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

func ids(l []Finding) []string {
	var out []string
	for _, f := range l {
		out = append(out, f.Entity+"/"+f.ID)
	}
	return out
}

// The checker can fail: an acknowledged write that never reached the
// events topic, and node states altered on purpose, are reported — exactly
// those — while the untouched run reports nothing.
func TestCheckerReportsPlantedFaults(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	brokers := cluster(t, "users-events", "orders-events", "elsewhere")
	acks := load(t, ctx, brokers)
	topics := map[string]string{"users": "users-events", "orders": "orders-events"}

	// Planted 1: a write the producer was acknowledged for, but by another
	// topic; the ack log says it went to users-events.
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	lost := []byte(`{"type":"UserLoggedIn","at":"2024-02-02T00:00:00Z"}`)
	res := cl.ProduceSync(ctx, &kgo.Record{Topic: "elsewhere", Key: []byte("user-07"), Value: lost})
	if err := res.FirstErr(); err != nil {
		t.Fatal(err)
	}
	r := res[0].Record
	acks = append(acks, Ack{Topic: "users-events", Key: "user-07", Partition: r.Partition, Offset: r.Offset, SHA256: Hash(lost)})
	// Planted 2: an ack for an offset far beyond anything written.
	acks = append(acks, Ack{Topic: "orders-events", Key: "order-03", Partition: 0, Offset: 1_000_000, SHA256: Hash([]byte("x"))})
	// Planted 3: a command acknowledged at a version the fold does not give it.
	var cmdAck Ack
	for _, a := range acks {
		if a.Topic == "users-events" && a.Key == "user-11" {
			cmdAck = a // the last of user-11's records: the command's last event
		}
	}
	cmdAck.SHA256, cmdAck.CommandID, cmdAck.Version = "", "c-user-11", 5
	acks = append(acks, cmdAck)

	// The ack log round trip is part of the path.
	path := t.TempDir() + "/acks.jsonl"
	log, err := CreateAckLog(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := log.Record(acks...); err != nil {
		t.Fatal(err)
	}
	if err := log.Close(); err != nil {
		t.Fatal(err)
	}
	read, err := ReadAcks(path)
	if err != nil || len(read) != len(acks) {
		t.Fatalf("ReadAcks: %d acks, %v (wrote %d)", len(read), err, len(acks))
	}

	f, err := Load(ctx, brokers, topics)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(f.Entities["users"]) + len(f.Entities["orders"]); n != 40 {
		t.Fatalf("fold has %d entities, want 40", n)
	}
	if u := f.Entities["users"]["user-07"]; u.Version != 4 || !strings.Contains(string(u.State), `"roles":["admin"]`) {
		t.Fatalf("user-07 folded to version %d %s", u.Version, u.State)
	}

	// A faithful node: nothing to report but the acks.
	good := httptest.NewServer(&fakeNode{f: f, alter: func(string, string, string, any) {}})
	defer good.Close()
	nodes := []Node{&HTTPNode{ID: "good", URL: good.URL}}
	rep := Report{Acks: f.CheckAcks(read), Nodes: f.CompareNodes(ctx, nodes, 1), History: f.CheckHistory(ctx, nodes, 40, 1)}
	t.Logf("faithful node: %v", rep)
	if rep.Nodes.Checked != 40 || rep.History.Entities != 40 || rep.History.Versions < 80 || rep.Acks.Checked != 143 {
		t.Errorf("checked too little: %v", rep)
	}
	if !slices.Equal(ids(rep.Acks.Missing), []string{"orders/order-03", "users/user-07"}) {
		t.Errorf("missing acks: %v, want order-03 and user-07", rep.Acks.Missing)
	}
	if !slices.Equal(ids(rep.Acks.NotApplied), []string{"users/user-11"}) {
		t.Errorf("commands not applied: %v, want user-11", rep.Acks.NotApplied)
	}
	if !rep.Nodes.Converged() || rep.Nodes.Wrong() || len(rep.History.Mismatched)+len(rep.History.Errors) > 0 {
		t.Errorf("the faithful node was found wrong: %v", rep)
	}

	// An altered node: one state changed, one version one too high (an
	// event applied twice), one behind, one history flag flipped, one
	// version=N answer changed.
	bad := httptest.NewServer(&fakeNode{f: f, alter: func(kind, typ, id string, v any) {
		switch {
		case kind == "get" && id == "order-05":
			s := v.(*Served)
			s.State = json.RawMessage(strings.Replace(string(s.State), `"quantity":2`, `"quantity":3`, 1))
		case kind == "get" && id == "user-13":
			v.(*Served).Version++
		case kind == "get" && id == "user-02":
			v.(*Served).Version--
		case kind == "history" && id == "order-09":
			(*v.(*[]Listed))[2].Applied = true // the rejected OrderShipped
		case kind == "history" && id == "order-12":
			l := v.(*[]Listed) // an event listed twice
			*l = append((*l)[:2], (*l)[1:]...)
		case kind == "version" && id == "user-17":
			s := v.(*Served)
			if s.Version == 1 {
				s.State = json.RawMessage(`{"name":"someone else","email":"17@x","logins":0}`)
			}
		}
	}})
	defer bad.Close()
	nodes = []Node{&HTTPNode{ID: "bad", URL: bad.URL}}
	rep = Report{Acks: f.CheckAcks(read), Nodes: f.CompareNodes(ctx, nodes, 1), History: f.CheckHistory(ctx, nodes, 40, 1)}
	t.Logf("altered node: %v", rep)
	for _, c := range []struct {
		what      string
		got, want []string
	}{
		{"mismatched", ids(rep.Nodes.Mismatched), []string{"orders/order-05"}},
		{"applied twice", ids(rep.Nodes.AppliedTwice), []string{"users/user-13"}},
		{"behind", ids(rep.Nodes.Behind), []string{"users/user-02"}},
		{"history mismatched", ids(rep.History.Mismatched), []string{"orders/order-09", "orders/order-12", "users/user-17"}},
		{"errors", ids(append(rep.Nodes.Errors, rep.History.Errors...)), nil},
	} {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("%s: %v, want %v", c.what, c.got, c.want)
		}
	}
	if rep.OK() {
		t.Error("Report.OK() with planted faults")
	}
}
