package interactive_test

import (
	"errors"
	"fmt"
	"math/rand"
	"net/url"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/eventfold/eventfold"
	"github.com/eventfold/eventfold/eventfoldtest"
	"github.com/eventfold/eventfold/interactive"
	"github.com/eventfold/eventfold/kafka"
	"github.com/eventfold/eventfold/processor"
)

func TestCommandsOverHTTP(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	c := eventfoldtest.StartNodes(t, k, 2, entities(), nil)
	a := c.Nodes()[0]
	ctx := eventfoldtest.Context(t, time.Minute)
	put := func(id, v string, o interactive.CommandOptions) (interactive.CommandResponse, error) {
		return a.Client.Command(ctx, "registers", id, []byte(fmt.Sprintf(`{"type":"Put","v":%q}`, v)), o)
	}
	// Keys on both nodes: commands are forwarded to the owner.
	for i := 0; i < 20; i++ {
		id := fmt.Sprint("c-", i)
		res, err := put(id, "one", interactive.CommandOptions{})
		if err != nil || res.Version != 1 || string(res.State) != `{"v":"one"}` || res.Events != 1 {
			t.Fatalf("%s: %+v %v", id, res, err)
		}
		zero := uint64(0)
		_, err = put(id, "late", interactive.CommandOptions{IfMatch: &zero})
		var re *interactive.RemoteError
		if !errors.Is(err, eventfold.ErrConflict) || !errors.As(err, &re) || re.CurrentVersion == nil || *re.CurrentVersion != 1 || re.Status != 409 {
			t.Fatalf("%s stale If-Match: %v", id, err)
		}
		if _, err := put(id, "", interactive.CommandOptions{}); !errors.Is(err, eventfold.ErrRejected) {
			t.Fatalf("%s empty value: %v", id, err)
		}
		one := uint64(1)
		res, err = put(id, "two", interactive.CommandOptions{IfMatch: &one, IdempotencyKey: "k-" + id})
		if err != nil || res.Version != 2 {
			t.Fatalf("%s second: %+v %v", id, res, err)
		}
		// The retry, through the other node: same answer, nothing appended.
		again, err := c.Nodes()[1].Client.Command(ctx, "registers", id, []byte(`{"type":"Put","v":"two"}`), interactive.CommandOptions{IfMatch: &one, IdempotencyKey: "k-" + id})
		if err != nil || !again.Duplicate || again.Version != 2 || again.CommandID != "k-"+id {
			t.Fatalf("%s retry: %+v %v", id, again, err)
		}
	}
	// Read-your-writes for plain appends.
	app, err := a.Client.Append(ctx, "registers", "ryw", setEvent("fresh"))
	if err != nil {
		t.Fatal(err)
	}
	ans, err := c.Nodes()[1].Client.Read(ctx, "registers", "ryw", url.Values{"min_offset": {strconv.FormatInt(app.Offset, 10)}})
	if err != nil || string(ans.State) != `{"v":"fresh"}` {
		t.Fatalf("min_offset read: %+v %v", ans, err)
	}
	// An offset far in the future times out with 504.
	if _, err := a.Client.Read(ctx, "registers", "ryw", url.Values{"min_offset": {strconv.FormatInt(app.Offset+1000, 10)}}); !errors.Is(err, interactive.ErrTimeout) {
		t.Fatalf("future min_offset: %v", err)
	}
	// Bad input.
	for _, tc := range []struct {
		body string
		o    interactive.CommandOptions
	}{{`{"type":"Nope"}`, interactive.CommandOptions{}}, {`nope`, interactive.CommandOptions{}}} {
		if _, err := a.Client.Command(ctx, "registers", "x", []byte(tc.body), tc.o); !errors.Is(err, eventfold.ErrInvalid) {
			t.Errorf("%s: %v", tc.body, err)
		}
	}
}

// 50 clients send conflicting commands (same entities, same expected
// versions) through random nodes while a node leaves and another joins.
func TestConcurrentConflictingCommands(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 2)
	c := eventfoldtest.StartNodes(t, k, 3, entities(), nil)
	const keys, clients = 10, 50
	ctx := eventfoldtest.Context(t, 3*time.Minute)
	seed := time.Now().UnixNano()
	if s := os.Getenv("EVENTFOLD_TEST_SEED"); s != "" {
		seed, _ = strconv.ParseInt(s, 10, 64)
	}
	t.Logf("seed %d (EVENTFOLD_TEST_SEED replays it)", seed)

	type outcome struct {
		key, cmd string
		expected uint64
		version  uint64
	}
	var (
		mu                   sync.Mutex
		oks, conflicted      []outcome
		rejected, unresolved int
		late                 []outcome // 409 after an ambiguous attempt
		retried              int
		stop                 = make(chan struct{})
		wg                   sync.WaitGroup
	)
	accepted := func() int { mu.Lock(); defer mu.Unlock(); return len(oks) }
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func(seed int64) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(seed))
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				nodes := c.Nodes()
				key := fmt.Sprint("hot-", rng.Intn(keys))
				var expected uint64
				if a, err := nodes[rng.Intn(len(nodes))].Client.Get(ctx, "registers", key); err == nil {
					expected = a.Version
				} else if !errors.Is(err, eventfold.ErrNotFound) {
					continue
				}
				cmd := fmt.Sprintf("w%d-%d", seed, n)
				body := fmt.Sprintf(`{"type":"Put","v":%q}`, cmd)
				if rng.Intn(3) == 0 { // a multi-event command: all or nothing
					body = fmt.Sprintf(`{"type":"PutMany","vs":["%s/1","%s/2","%s"]}`, cmd, cmd, cmd)
				}
				// An answer that says nothing about the outcome (a node
				// stopping, no owner yet) is retried with the same key until
				// one does: the client's view must end definite.
				var res interactive.CommandResponse
				var err error
				ambiguous := false // an attempt ended without saying what happened
				for attempt := 0; attempt < 40; attempt++ {
					nodes := c.Nodes()
					res, err = nodes[rng.Intn(len(nodes))].Client.Command(ctx, "registers", key, []byte(body),
						interactive.CommandOptions{IfMatch: &expected, IdempotencyKey: cmd})
					var re *interactive.RemoteError
					if err == nil || errors.Is(err, eventfold.ErrConflict) || errors.Is(err, eventfold.ErrRejected) ||
						(errors.As(err, &re) && !eventfold.IsRetryable(err)) || ctx.Err() != nil {
						break
					}
					ambiguous = true
					mu.Lock()
					retried++
					mu.Unlock()
					select {
					case <-ctx.Done():
					case <-time.After(50 * time.Millisecond):
					}
				}
				mu.Lock()
				o := outcome{key, cmd, expected, res.Version}
				switch {
				case err == nil:
					oks = append(oks, o)
				case errors.Is(err, eventfold.ErrConflict) && ambiguous:
					// An earlier attempt may have been applied and then been
					// pushed out of the entity's last 16 command ids by the
					// time the retry came (docs/commands.md, Limits): then
					// the retry decides anew and its If-Match fails.
					late = append(late, o)
				case errors.Is(err, eventfold.ErrConflict):
					conflicted = append(conflicted, o)
				case errors.Is(err, eventfold.ErrRejected):
					rejected++
				default:
					var re *interactive.RemoteError
					if errors.As(err, &re) && !eventfold.IsRetryable(err) {
						t.Errorf("%s: %v", key, err)
					}
					unresolved++
				}
				mu.Unlock()
			}
		}(seed + int64(w))
	}
	// Progress, not time, paces the test: commands keep being accepted
	// before, while and after a node leaves and another joins.
	waitAccepted := func(n int) {
		t.Helper()
		eventfoldtest.Eventually(t, 2*time.Minute, func() error {
			if got := accepted(); got < n {
				return fmt.Errorf("%d commands accepted, waiting for %d", got, n)
			}
			return nil
		})
	}
	waitAccepted(50)
	leaving := c.Nodes()[2]
	leaving.Stop(t)
	waitAccepted(accepted() + 50)
	c.AddNode()
	c.WaitRebalanced(60 * time.Second)
	waitAccepted(accepted() + 50)
	close(stop)
	wg.Wait()

	// The independent fold: the events topic, with the header rule.
	msgs, err := kafka.ReadAll(ctx, k.Brokers, eventfoldtest.SaramaConfig(), "registers-events")
	if err != nil {
		t.Fatal(err)
	}
	type pending struct {
		id      string
		next, n int
		v       string
	}
	type st struct {
		v       string
		version uint64
		cmds    map[string]uint64
		order   []string // command ids in the order they applied
		pend    *pending
	}
	fold := map[string]*st{}
	for _, m := range msgs {
		s := fold[string(m.Key)]
		if s == nil {
			s = &st{cmds: map[string]uint64{}}
			fold[string(m.Key)] = s
		}
		h := map[string]string{}
		for _, hd := range m.Headers {
			h[string(hd.Key)] = string(hd.Value)
		}
		ev, err := regEvents.Decode(m.Value)
		if err != nil {
			t.Fatal(err)
		}
		v := ev.(*set).V
		id, isCmd := h[processor.HeaderCommandID]
		if !isCmd {
			s.pend = nil // a plain event aborts a command in flight
			s.v, s.version = v, s.version+1
			continue
		}
		exp, _ := strconv.ParseUint(h[processor.HeaderExpectedVersion], 10, 64)
		var i, n int
		if _, err := fmt.Sscanf(h[processor.HeaderBatch], "%d/%d", &i, &n); err != nil {
			t.Fatalf("batch header %q", h[processor.HeaderBatch])
		}
		switch {
		case i == 0 && exp == s.version:
			s.pend = &pending{id: id, next: 1, n: n, v: v}
		case i > 0 && s.pend != nil && s.pend.id == id && s.pend.next == i:
			s.pend.next++
			s.pend.v = v
		default:
			continue // not applied: decided on a stale version, or out of its batch
		}
		if s.pend.next == s.pend.n {
			s.v, s.version = s.pend.v, s.version+uint64(s.pend.n)
			s.cmds[id] = s.version
			s.order = append(s.order, id)
			s.pend = nil
		}
	}
	for key, s := range fold {
		a, err := c.Nodes()[0].Client.Read(ctx, "registers", key, url.Values{"consistency": {"strong"}})
		if err != nil {
			t.Fatal(err)
		}
		if a.Version != s.version || string(a.State) != fmt.Sprintf(`{"v":%q}`, s.v) {
			t.Errorf("%s: served v%d %s, independent fold v%d %q", key, a.Version, a.State, s.version, s.v)
		}
	}
	perVersion := map[string]int{}
	for _, ok := range oks {
		if got, applied := fold[ok.key].cmds[ok.cmd]; !applied || got != ok.version {
			t.Errorf("accepted %s on %s v%d: fold says applied=%v at v%d", ok.cmd, ok.key, ok.version, applied, got)
		}
		perVersion[fmt.Sprintf("%s@%d", ok.key, ok.expected)]++
	}
	for kv, n := range perVersion {
		if n > 1 {
			t.Errorf("%d commands accepted for %s", n, kv)
		}
	}
	for _, c := range conflicted {
		if v, applied := fold[c.key].cmds[c.cmd]; applied {
			t.Errorf("%s on %s answered 409 but the fold applied it at v%d", c.cmd, c.key, v)
		}
	}
	// A late 409 for a command that did apply is right only if the entity
	// had forgotten its id by then: at least 16 commands applied after it.
	for _, c := range late {
		s := fold[c.key]
		if _, applied := s.cmds[c.cmd]; !applied {
			continue
		}
		after := len(s.order) - 1 - slices.Index(s.order, c.cmd)
		if after < 16 {
			t.Errorf("%s on %s answered 409 after a retry, but the fold applied it and only %d commands came after it (its id should still be known)", c.cmd, c.key, after)
		}
	}
	t.Logf("commands: %d accepted, %d conflict (409, none applied), %d conflict after an ambiguous attempt, %d rejected (422), %d unresolved after retries, %d retries; %d events in the topic",
		len(oks), len(conflicted), len(late), rejected, unresolved, retried, len(msgs))
	if unresolved > clients {
		t.Errorf("%d commands without a definite answer after 40 tries each", unresolved)
	}
}
