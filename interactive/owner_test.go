package interactive_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventfold/eventfold"
	"github.com/eventfold/eventfold/cluster"
	"github.com/eventfold/eventfold/eventfoldtest"
	"github.com/eventfold/eventfold/interactive"
	"github.com/eventfold/eventfold/kafka"
	"github.com/eventfold/eventfold/limits"
	"github.com/eventfold/eventfold/view"
)

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// replicaView is a replica's store over k. If withTables, the registers
// table exists (12 partitions) and the view runs until it has found it;
// otherwise the view is like a --role=replica node's before it found its
// tables: it knows its entity types and no partition count.
func replicaView(t *testing.T, k *eventfoldtest.Kafka, withTables bool) *view.View {
	t.Helper()
	v, err := view.New(k.Brokers, entities(), view.WithSettings(cluster.Settings{Sarama: eventfoldtest.SaramaConfig(), DataDir: t.TempDir()}))
	if err != nil {
		t.Fatal(err)
	}
	if !withTables {
		return v
	}
	ctx := eventfoldtest.Context(t, 2*time.Minute)
	spec := kafka.TopicSpec{Name: cluster.Settings{}.WithDefaults().TableTopic("registers"), Kind: kafka.Table, Partitions: 12, Replication: 1}
	if _, err := kafka.EnsureTopics(ctx, k.Brokers, eventfoldtest.SaramaConfig(), []kafka.TopicSpec{spec}); err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = v.Run(runCtx) }()
	t.Cleanup(func() { cancel(); <-done })
	eventfoldtest.Eventually(t, 30*time.Second, func() error {
		if v.Partitions("registers") != 12 {
			return errors.New("view has not found the registers table")
		}
		return nil
	})
	return v
}

// ownedByGhost returns an Ownership whose map (read from a real consumer
// group on k) says that ghost owns partition 0 of registers: ghost is the
// one member of a group over a one-partition topic.
func ownedByGhost(t *testing.T, k *eventfoldtest.Kafka, ghost interactive.Member) *interactive.Ownership {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var done []chan struct{}
	t.Cleanup(func() {
		cancel()
		for _, d := range done {
			<-d
		}
	})
	run := func(f func()) {
		d := make(chan struct{})
		done = append(done, d)
		go func() { defer close(d); f() }()
	}
	run(func() {
		_ = interactive.Announce(ctx, k.Brokers, cluster.Settings{App: "ghost", Sarama: eventfoldtest.SaramaConfig()}, ghost.Encode())
	})
	own := interactive.NewOwnership(k.Brokers, eventfoldtest.SaramaConfig(), map[string]string{"registers": cluster.Settings{App: "ghost"}.ReplicaGroup()}, "", 100*time.Millisecond, discard)
	run(func() { _ = own.Run(ctx) })
	eventfoldtest.Eventually(t, 30*time.Second, func() error {
		if m, ok := own.Snapshot().Owner("registers", 0); !ok || m.ID != ghost.ID {
			return fmt.Errorf("partition 0 owned by %+v (%v)", m, ok)
		}
		return nil
	})
	return own
}

// keyOfPartition0 is a registers key in partition 0 of 12.
func keyOfPartition0(t *testing.T) string {
	for i := 0; i < 1000; i++ {
		if k := fmt.Sprint("p0-", i); kafka.FNV1a.Partition(k, 12) == 0 {
			return k
		}
	}
	t.Fatal("no key in partition 0")
	return ""
}

// serve starts srv's handler on a test server.
func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts.URL
}

// A --role=replica node that has not found its tables yet knows no
// partition count: a command through it used to divide by zero in the
// partitioner (an empty reply). It answers 503 with Retry-After.
func TestReplicaWithoutTablesAnswersCommand503(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	v := replicaView(t, k, false)
	own := interactive.NewOwnership(k.Brokers, eventfoldtest.SaramaConfig(), map[string]string{}, "", time.Second, discard)
	srv, err := interactive.New(interactive.Backend{Catalog: v, Standby: v}, own, interactive.Member{ID: "replica", URL: "http://replica.invalid", Role: interactive.RoleReplica},
		interactive.WithLookupDeadline(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	base := serve(t, srv.Handler())
	resp, err := http.Post(base+"/v1/registers/r-1/commands", "application/json", strings.NewReader(`{"type":"Put","v":"x"}`))
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	var body struct{ Code string }
	if err := jsonDecode(resp, &body); err != nil {
		t.Fatalf("answer is not JSON: %v", err)
	}
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || body.Code != interactive.CodeNotRecovered && body.Code != interactive.CodeUnavailable {
		t.Fatalf("command via a replica without tables = %d %q (Retry-After %q), want 503", resp.StatusCode, body.Code, resp.Header.Get("Retry-After"))
	}
	// The client sees a retryable error.
	_, err = interactive.NewClient(base, "").Command(context.Background(), "registers", "r-1", []byte(`{"type":"Put","v":"x"}`), interactive.CommandOptions{})
	if !eventfold.IsRetryable(err) {
		t.Fatalf("Client.Command = %v, want a retryable error", err)
	}
}

// When the owner of a key keeps answering 421 (its map is out of date),
// the request that gives up leaves as 503 unavailable, never as 421
// not_owner, and the client sees exactly eventfold.ErrUnavailable.
func TestNoOwnerAnsweringIs503NotNotOwner(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	v := replicaView(t, k, true)
	// The ghost is a real eventfold server that owns nothing: it answers
	// forwarded requests with 421 not_owner.
	ghostOwn := interactive.NewOwnership(k.Brokers, eventfoldtest.SaramaConfig(), map[string]string{}, "", time.Second, discard)
	ghostSrv, err := interactive.New(interactive.Backend{Catalog: v, Standby: v}, ghostOwn, interactive.Member{ID: "ghost", URL: "http://ghost.invalid"})
	if err != nil {
		t.Fatal(err)
	}
	ghost := interactive.Member{ID: "ghost", URL: serve(t, ghostSrv.Handler())}
	own := ownedByGhost(t, k, ghost)
	front, err := interactive.New(interactive.Backend{Catalog: v, Standby: v}, own, interactive.Member{ID: "front", URL: "http://front.invalid"},
		interactive.WithLookupDeadline(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	base := serve(t, front.Handler())
	key := keyOfPartition0(t)

	// The owner's answer is indeed 421.
	req, _ := http.NewRequest(http.MethodGet, ghost.URL+"/v1/registers/"+key+"/events", nil)
	req.Header.Set(interactive.HeaderHop, "front")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMisdirectedRequest {
		t.Fatalf("ghost answers %d, want 421", resp.StatusCode)
	}

	cl := interactive.NewClient(base, "")
	ctx := eventfoldtest.Context(t, time.Minute)
	for name, call := range map[string]func() error{
		"command": func() error {
			_, err := cl.Command(ctx, "registers", key, []byte(`{"type":"Put","v":"x"}`), interactive.CommandOptions{})
			return err
		},
		"history": func() error { _, err := cl.History(ctx, "registers", key, -1, 0); return err },
		"read":    func() error { _, err := cl.Get(ctx, "registers", key); return err },
	} {
		err := call()
		var re *interactive.RemoteError
		if !errors.As(err, &re) || re.Status != http.StatusServiceUnavailable || re.Code != interactive.CodeUnavailable {
			t.Errorf("%s with no owner answering = %v, want 503 unavailable", name, err)
			continue
		}
		if !errors.Is(err, eventfold.ErrUnavailable) || errors.Is(err, eventfold.ErrNotOwner) {
			t.Errorf("%s: errors.Is(ErrUnavailable) = %v, errors.Is(ErrNotOwner) = %v", name, errors.Is(err, eventfold.ErrUnavailable), errors.Is(err, eventfold.ErrNotOwner))
		}
	}
}

// A forwarded answer is streamed through whole, whatever its size: it used
// to be buffered up to 64 MiB and relayed cut, as a 200 with invalid JSON.
// An answer that breaks off before its start is relayed is not relayed:
// the client gets 502 unavailable.
func TestForwardedAnswersAreRelayedWholeOrNotAtAll(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	v := replicaView(t, k, true)
	key := keyOfPartition0(t)
	// The owner here is an HTTP server that answers like a node would, with
	// a state larger than any buffer, or with an answer cut short.
	const big = 65 << 20
	var truncate atomic.Bool
	owner := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(interactive.HeaderHop) != "front" {
			http.Error(w, "not forwarded", http.StatusBadRequest)
			return
		}
		prefix := fmt.Sprintf(`{"id":%q,"entity":"registers","version":1,"state":{"v":"`, key)
		suffix := `"}}`
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set(interactive.HeaderServedBy, "owner")
		w.Header().Set("Content-Length", strconv.Itoa(len(prefix)+big+len(suffix)))
		io.WriteString(w, prefix)
		if truncate.Load() {
			// Cut off after a few bytes: the connection closes short of
			// the promised length.
			io.WriteString(w, "xxxx")
			return
		}
		chunk := strings.Repeat("x", 1<<20)
		for i := 0; i < big>>20; i++ {
			io.WriteString(w, chunk)
		}
		io.WriteString(w, suffix)
	}))
	own := ownedByGhost(t, k, interactive.Member{ID: "owner", URL: owner})
	front, err := interactive.New(interactive.Backend{Catalog: v, Standby: v}, own, interactive.Member{ID: "front", URL: "http://front.invalid"},
		interactive.WithLookupDeadline(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	cl := interactive.NewClient(serve(t, front.Handler()), "")
	ctx := eventfoldtest.Context(t, time.Minute)

	a, err := cl.Get(ctx, "registers", key)
	if err != nil {
		t.Fatalf("large forwarded answer: %v", err)
	}
	if a.ServedBy != "owner" || len(a.State) != len(`{"v":""}`)+big {
		t.Fatalf("large forwarded answer: served by %q, state of %d bytes, want %d", a.ServedBy, len(a.State), len(`{"v":""}`)+big)
	}

	truncate.Store(true)
	_, err = cl.Get(ctx, "registers", key)
	var re *interactive.RemoteError
	if !errors.As(err, &re) || re.Status != http.StatusBadGateway || !errors.Is(err, eventfold.ErrUnavailable) {
		t.Fatalf("truncated forwarded answer = %v, want 502 unavailable", err)
	}
}

// A body limit above limits.EventBytes is a configuration error: such an
// event could never be produced as one record.
func TestMaxBodyAboveEventBytesIsRefused(t *testing.T) {
	v, err := view.New([]string{"127.0.0.1:1"}, entities())
	if err != nil {
		t.Fatal(err)
	}
	own := interactive.NewOwnership([]string{"127.0.0.1:1"}, kafka.NewConfig(), nil, "", time.Second, discard)
	self := interactive.Member{ID: "a", URL: "http://a.invalid"}
	if _, err := interactive.New(interactive.Backend{Catalog: v, Standby: v}, own, self, interactive.WithMaxBodyBytes(limits.EventBytes+1)); !errors.Is(err, eventfold.ErrInvalid) {
		t.Fatalf("New with a body limit above limits.EventBytes = %v, want ErrInvalid", err)
	}
	if _, err := interactive.New(interactive.Backend{Catalog: v, Standby: v}, own, self, interactive.WithMaxBodyBytes(limits.EventBytes)); err != nil {
		t.Fatalf("New with the body limit at limits.EventBytes: %v", err)
	}
}

// When the group's coordinator moves to another broker (a broker restart,
// a preferred-leader election of __consumer_offsets), describing the group
// at the old one answers NOT_COORDINATOR for the group, not an error of the
// call: the map must still follow the owners, not keep the last one for
// good (a make test-kafka run forwarded to a killed node for a minute).
func TestOwnershipFollowsAMovedCoordinator(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 3)
	first := interactive.Member{ID: "first", URL: "http://127.0.0.1:1"}
	own := ownedByGhost(t, k, first)
	group := cluster.Settings{App: "ghost"}.ReplicaGroup()
	before := k.Cluster.CoordinatorFor(group)
	for k.Cluster.CoordinatorFor(group) == before {
		k.Cluster.RehashCoordinators()
	}
	// first leaves (its Announce ends with the test's ownedByGhost context
	// only), so a second member takes partition 0 over after first's
	// session: announce second and wait for the map to name it.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	second := interactive.Member{ID: "second", URL: "http://127.0.0.1:2"}
	go func() {
		defer close(done)
		_ = interactive.Announce(ctx, k.Brokers, cluster.Settings{App: "ghost", Sarama: eventfoldtest.SaramaConfig()}, second.Encode())
	}()
	eventfoldtest.Eventually(t, 30*time.Second, func() error {
		snap := own.Snapshot()
		if len(snap.Members) != 2 || !snap.Stable["registers"] {
			return fmt.Errorf("members %v, stable %v, refresh errors %d", snap.Members, snap.Stable, own.RefreshErrors())
		}
		return nil
	})
}
