package systemtest

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eventfold/eventfold/demo"
	"github.com/eventfold/eventfold/demo/orders"
	"github.com/eventfold/eventfold/demo/projections"
	"github.com/eventfold/eventfold/demo/users"
	"github.com/eventfold/eventfold/kafka"
	"github.com/eventfold/eventfold/systemtest/checker"
)

// projCheck is one comparison of both projections with the checker's.
type projCheck struct {
	reports []checker.ProjectionReport // one per projection and node listed
	keyErrs []checker.Finding          // single-key reads unlike the checker
	keyGets int                        // single-key reads done
}

func (c projCheck) differences() int {
	n := len(c.keyErrs)
	for _, r := range c.reports {
		n += r.Differences()
	}
	return n
}

func (c projCheck) wrong() bool {
	for _, r := range c.reports {
		if r.Wrong() {
			return true
		}
	}
	return false
}

// sum adds up the findings of every report, by kind.
func (c projCheck) sum() (checked, mismatched, twice, behind, missing, extra, dup, errs int) {
	for _, r := range c.reports {
		checked += r.Checked
		mismatched += len(r.Mismatched)
		twice += len(r.AppliedTwice)
		behind += len(r.Behind)
		missing += len(r.Missing)
		extra += len(r.Extra)
		dup += len(r.Duplicated)
		errs += len(r.Errors)
	}
	return
}

func (c projCheck) String() string {
	var parts []string
	for _, r := range c.reports {
		parts = append(parts, r.String())
	}
	if len(c.keyErrs) > 0 {
		parts = append(parts, fmt.Sprintf("%d of %d key reads unlike the checker, first: %v", len(c.keyErrs), c.keyGets, c.keyErrs[0]))
	}
	return strings.Join(parts, "; ")
}

// compareProjections lists both projections from one node (or, with all,
// from every node) and compares them with want; when nothing differs, it
// also reads sample keys one by one from each node listed.
func compareProjections(t *testing.T, nodes []*proc, want map[string]map[string]checker.Expected, round int, all bool, rng *rand.Rand) projCheck {
	t.Helper()
	ns := checkerNodes(nodes)
	if !all {
		ns = ns[round%len(ns) : round%len(ns)+1]
	}
	var c projCheck
	ctx := ctxFor(t, 2*time.Minute)
	for _, n := range ns {
		for _, name := range checker.ProjectionNames() {
			c.reports = append(c.reports, checker.CompareProjection(ctx, n.(*checker.HTTPNode), name, want[name]))
		}
	}
	if c.differences() > 0 {
		return c
	}
	for _, n := range ns {
		for _, name := range checker.ProjectionNames() {
			keys := make([]string, 0, len(want[name]))
			for k := range want[name] {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			rng.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
			keys = keys[:min(10, len(keys))]
			c.keyGets += len(keys) + 1
			c.keyErrs = append(c.keyErrs, checker.CheckProjectionKeys(ctx, n.(*checker.HTTPNode), name, want[name], keys)...)
		}
	}
	return c
}

// expectProjections folds the events topics with the checker and computes
// both projections from the fold.
func expectProjections(t *testing.T, app string) (map[string]map[string]checker.Expected, int) {
	t.Helper()
	fold, err := checker.Load(ctxFor(t, 5*time.Minute), brokers, eventTopics(app))
	if err != nil {
		t.Fatalf("checker: %v", err)
	}
	want, err := fold.Projections()
	if err != nil {
		t.Fatalf("checker: %v", err)
	}
	return want, fold.Counts().Events
}

// awaitProjections polls until both projections, listed from every node,
// equal want (or timeout); a wrong key (ahead of the checker, another state
// at the same version, listed twice, or a key the checker lacks) fails at
// once: waiting cannot fix it. It returns the last check and how long it
// took.
func awaitProjections(t *testing.T, phase string, nodes []*proc, want map[string]map[string]checker.Expected, timeout time.Duration, rng *rand.Rand) (projCheck, time.Duration) {
	t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	var c projCheck
	var firstWrong time.Time
	for round := 0; ; round++ {
		c = compareProjections(t, nodes, want, round, false, rng)
		if c.differences() == 0 {
			// One node agrees: every node must (each lists through the
			// owners, and reads keys itself).
			c = compareProjections(t, nodes, want, round, true, rng)
			if c.differences() == 0 {
				break
			}
		}
		if c.wrong() && firstWrong.IsZero() {
			// Waiting cannot fix it; poll a little longer only to see
			// that it stays (and the rest catches up), then stop.
			firstWrong = time.Now()
			t.Logf("%s: after %.1fs, wrong: %v", phase, time.Since(start).Seconds(), c)
			if d := firstWrong.Add(30 * time.Second); d.Before(deadline) {
				deadline = d
			}
		}
		if time.Now().After(deadline) {
			break
		}
		if round%10 == 0 {
			t.Logf("%s: after %.1fs: %v", phase, time.Since(start).Seconds(), c)
		}
		time.Sleep(time.Second) // polling: the projections may still be folding
	}
	took := time.Since(start)
	if c.wrong() {
		explainWrong(t, nodes[0].app, c, want)
	}
	if c.differences() > 0 {
		for _, r := range c.reports {
			for i, f := range r.Findings() {
				if i == 10 {
					t.Logf("... and %d more", len(r.Findings())-10)
					break
				}
				t.Log(f)
			}
		}
		for _, f := range c.keyErrs {
			t.Log(f)
		}
		for _, n := range nodes {
			t.Logf("%s log tail:\n%s", n.id, n.tail(15))
		}
		t.Errorf("%s: projections unlike the checker after %.1fs (wrong: %v): %v", phase, took.Seconds(), c.wrong(), c)
	} else {
		t.Logf("%s: projections equal the checker's after %.1fs: %v", phase, took.Seconds(), c)
	}
	return c, took
}

// explainWrong logs, for up to 5 wrong keys and 3 keys behind of each
// projection, how the records of the projection's repartition topic for
// the key differ from the checker's inputs, origin by origin (source
// entity/partition/offset/index): an input missing there, written twice,
// or saying something else than the checker's was lost, repeated or
// mis-computed by the re-keying stage; if they all agree, the fold stage
// applied them wrongly.
func explainWrong(t *testing.T, app string, c projCheck, want map[string]map[string]checker.Expected) {
	t.Helper()
	for _, name := range checker.ProjectionNames() {
		var keys []string
		seen := map[string]bool{}
		for _, r := range c.reports {
			if r.Projection != name {
				continue
			}
			for i, l := range [][]checker.Finding{r.AppliedTwice, r.Mismatched, r.Extra, r.Duplicated, r.Behind} {
				limit := 5
				if i == 4 {
					limit = 3 // behind
				}
				for _, f := range l {
					if !seen[f.ID] && limit > 0 {
						seen[f.ID] = true
						keys = append(keys, f.ID)
						limit--
					}
				}
			}
		}
		if len(keys) == 0 {
			continue
		}
		topic := app + "-" + name + "-repartition"
		recs, err := checker.ReadTopic(ctxFor(t, 2*time.Minute), brokers, topic)
		if err != nil {
			t.Logf("read %s: %v", topic, err)
			continue
		}
		type written struct {
			at  string
			in  json.RawMessage
			raw string
		}
		byKey := map[string]map[string][]written{} // key -> origin -> records
		for _, r := range recs {
			var v struct {
				O struct {
					E string `json:"e"`
					P int32  `json:"p"`
					X int64  `json:"x"`
					I int    `json:"i"`
				} `json:"o"`
				In json.RawMessage `json:"in"`
			}
			origin := "unreadable"
			if json.Unmarshal(r.Value, &v) == nil {
				origin = fmt.Sprintf("%s/%d/%d/%d", v.O.E, v.O.P, v.O.X, v.O.I)
			}
			if byKey[r.Key] == nil {
				byKey[r.Key] = map[string][]written{}
			}
			byKey[r.Key][origin] = append(byKey[r.Key][origin], written{fmt.Sprintf("%d/%d", r.Partition, r.Offset), v.In, string(r.Value)})
		}
		for _, k := range keys {
			var lines []string
			repeated := 0
			expected := map[string]bool{}
			for _, in := range want[name][k].Inputs {
				origin := fmt.Sprintf("%s/%d/%d/%d", in.Entity, in.Partition, in.Offset, in.Index)
				expected[origin] = true
				ws := byKey[k][origin]
				if len(ws) == 0 {
					lines = append(lines, fmt.Sprintf("  %s: not in the repartition topic; the checker's input %s", origin, in.What))
					continue
				}
				if len(ws) > 1 {
					repeated++ // the re-keying is at-least-once: a copy is fine if it says the same
				}
				for _, w := range ws {
					if !sameInput(w.in, in.What) {
						lines = append(lines, fmt.Sprintf("  %s: written at %s as %s; the checker's input %s", origin, w.at, w.in, in.What))
					}
				}
			}
			for origin, ws := range byKey[k] {
				if !expected[origin] {
					lines = append(lines, fmt.Sprintf("  %s: written at %s as %s, the checker has no such input", origin, ws[0].at, ws[0].raw))
				}
			}
			slices.Sort(lines)
			t.Logf("%s/%s: %d inputs expected, %d origins in %s (%d written more than once, alike); differing:\n%s",
				name, k, len(want[name][k].Inputs), len(byKey[k]), topic, repeated, strings.Join(lines, "\n"))
		}
	}
}

// sameInput compares a repartition input with the checker's description
// of it: every field the checker states, false and zero meaning absent.
func sameInput(written, checker json.RawMessage) bool {
	var w, c map[string]any
	if json.Unmarshal(written, &w) != nil || json.Unmarshal(checker, &c) != nil {
		return false
	}
	for k, v := range c {
		got, ok := w[k]
		if !ok {
			if v == false || v == float64(0) || v == "" {
				continue
			}
			return false
		}
		if fmt.Sprint(got) != fmt.Sprint(v) {
			return false
		}
	}
	return true
}

// keepLogs copies the nodes' logs out of the test's temporary directory
// when the test failed, and says where.
func keepLogs(t *testing.T, nodes []*proc) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		dir := filepath.Join(os.TempDir(), "eventfold-systemtest-logs", nodes[0].app)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return
		}
		for _, n := range nodes {
			if b, err := os.ReadFile(n.log); err == nil {
				os.WriteFile(filepath.Join(dir, n.id+".log"), b, 0o644)
			}
		}
		t.Logf("node logs kept in %s", dir)
	})
}

// Both demo projections while nodes die: 100k demo events, one of three
// nodes killed with kill -9 while they stream in and restarted; then a
// second node killed after the stream, 10k more events folded by the two
// left (which took its partitions over), and the second node restarted.
// After each phase both projections, every key listed from every node and
// a sample read key by key, must equal the checker's independent
// computation from its own fold of the events topics: the same keys, the
// same states, and versions that count every input once (higher: an input
// applied twice; lower: one lost).
func TestProjectionsUnderKill9(t *testing.T) {
	needKafka(t)
	seed := testSeed(t)
	app := uniqueApp("proj")
	nodes := []*proc{newProc(t, app, "n1"), newProc(t, app, "n2"), newProc(t, app, "n3")}
	for _, n := range nodes {
		n.start(t)
	}
	keepLogs(t, nodes)
	waitReady(t, 90*time.Second, nodes...)

	const entities, events, more = 10_000, 100_000, 10_000
	all := demo.Generate(seed, entities, events+more)
	rng := rand.New(rand.NewSource(seed))
	acks := newAcks(t)

	// Phase 1: kill -9 one node mid-stream, restart it a few batches later.
	killAt := 25_000 + rng.Intn(20_000)
	var victim *proc
	var killedAt, restartedAt, restartAt int
	start := time.Now()
	produceEvents(t, app, acks, all[:events], 2000, func(done int) {
		switch {
		case victim == nil && done >= killAt:
			victim = nodes[rng.Intn(len(nodes))]
			victim.kill9()
			killedAt, restartAt = done, done+6000+rng.Intn(10_000)
			t.Logf("kill -9 %s after %d events", victim.id, done)
		case victim != nil && restartedAt == 0 && done >= restartAt:
			if err := victim.launch(); err != nil {
				t.Fatalf("restart %s: %v", victim.id, err)
			}
			restartedAt = done
			t.Logf("restarted %s after %d events", victim.id, done)
		}
	})
	produced := time.Since(start)
	if victim == nil {
		t.Fatal("no node was killed")
	}
	if restartedAt == 0 {
		if err := victim.launch(); err != nil {
			t.Fatalf("restart %s: %v", victim.id, err)
		}
		restartedAt = events
	}
	waitReady(t, 2*time.Minute, nodes...)
	want1, events1 := expectProjections(t, app)
	c1, conv1 := awaitProjections(t, "after the kill mid-stream", nodes, want1, 3*time.Minute, rng)
	sinceProduced1 := time.Since(start) - produced
	// On differences, phase 2 runs all the same: it is measured, and the
	// report says whether the second kill added any.

	// Phase 2: kill -9 another node after the stream; the two left take
	// its partitions over and fold 10k more events; then it comes back.
	var second *proc
	for _, n := range nodes {
		if n != victim && (second == nil || rng.Intn(2) == 0) {
			second = n
		}
	}
	second.kill9()
	t.Logf("kill -9 %s after the stream", second.id)
	left := slices.DeleteFunc(slices.Clone(nodes), func(n *proc) bool { return n == second })
	produceEvents(t, app, acks, all[events:], 2000, nil)
	want2, events2 := expectProjections(t, app)
	c2, conv2 := awaitProjections(t, "after the second kill, on the two nodes left", left, want2, 3*time.Minute, rng)
	if err := second.launch(); err != nil {
		t.Fatalf("restart %s: %v", second.id, err)
	}
	waitReady(t, 2*time.Minute, nodes...)
	c3, conv3 := awaitProjections(t, "after the second node's restart", nodes, want2, 3*time.Minute, rng)

	// The entities too: a projection is only as right as its sources.
	_, rep := verify(t, app, acks, nodes, 2*time.Minute)
	result := fmt.Sprintf("phase 1 (kill -9 %s after %d events, restarted after %d events): %s; phase 2 (kill -9 %s after the stream, %d more events) on the two nodes left: %s; after its restart: %s; entities: %s",
		victim.id, killedAt, restartedAt, projSummary(c1), second.id, more, projSummary(c2), projSummary(c3), summary(rep))
	failed := c1.differences() > 0 || c2.differences() > 0 || c3.differences() > 0 || !rep.OK()
	if failed {
		result = "**FAILED** " + result
	}
	reportProjections(t, seed, result, failed, want2, events2, produced, sinceProduced1, conv1, conv2, conv3)
	t.Logf("phase 1: %d events in the topics; phase 2: %d", events1, events2)
}

func projSummary(c projCheck) string {
	checked, mismatched, twice, behind, missing, extra, dup, errs := c.sum()
	return fmt.Sprintf("%d key comparisons, %d mismatched, %d applied twice, %d behind, %d missing, %d extra, %d listed twice, %d errors; %d key reads, %d unlike",
		checked, mismatched, twice, behind, missing, extra, dup, errs, c.keyGets, len(c.keyErrs))
}

// reportProjections writes the test's row.
func reportProjections(t *testing.T, seed int64, result string, failed bool, want map[string]map[string]checker.Expected, events int, produced, sinceProduced, conv1, conv2, conv3 time.Duration) {
	verb := "equal the checker's"
	if failed {
		verb = "compared until equal or given up"
	}
	report(t, "| projections under kill -9 (seed %d) | %d events (10,000 entities), 3 nodes, customer-orders and users-by-role on every node; %d customer-orders keys, %d users-by-role keys | produced in %.1fs; projections %s %.1fs after the stream ended (polling %.1fs), %.1fs after the second kill, %.1fs after its restart | %s |",
		seed, events, len(want[checker.CustomerOrders]), len(want[checker.UsersByRole]), produced.Seconds(), verb, sinceProduced.Seconds(), conv1.Seconds(), conv2.Seconds(), conv3.Seconds(), result)
}

// The checker's projection rules were written again from the demo's
// description, not copied: on the demo generator's events its
// customer-orders and users-by-role must equal those folded with the
// demo's own Evolve, EvolveCustomer and EvolveRole (inputs mapped here as
// demo/projections maps them), key by key, or a difference the system test
// reports could be the checker's. Needs no Kafka.
func TestCheckerProjectionsAgreeWithDemo(t *testing.T) {
	const entities, events, parts = 5_000, 50_000, 12
	evs := demo.Generate(42, entities, events)
	recs := map[string][]checker.Record{}
	next := map[string]int64{}
	ords, usrs := map[string]orders.Order{}, map[string]users.User{}
	custs, roles := map[string]projections.Customer{}, map[string]projections.Role{}
	versions := map[string]map[string]uint64{checker.CustomerOrders: {}, checker.UsersByRole: {}}
	effective := func(u users.User) []string {
		if u.Deleted {
			return nil
		}
		return u.Roles
	}
	for _, e := range evs {
		p := kafka.FNV1a.Partition(e.ID, parts)
		topic := e.Entity + "-events"
		k := fmt.Sprintf("%s/%d", topic, p)
		recs[e.Entity] = append(recs[e.Entity], checker.Record{Topic: topic, Partition: p, Offset: next[k], Key: e.ID, Value: e.Data})
		next[k]++
		switch e.Entity {
		case "orders":
			ev, err := orders.Events.Decode(e.Data)
			if err != nil {
				continue
			}
			after, err := orders.Evolve(ords[e.ID], ev)
			if err != nil {
				continue
			}
			ords[e.ID] = after
			if after.CustomerID == "" {
				continue
			}
			_, created := ev.(*orders.OrderCreated)
			_, shipped := ev.(*orders.OrderShipped)
			c, err := projections.EvolveCustomer(custs[after.CustomerID], projections.OrderChanged{Order: e.ID, Status: after.Status,
				TotalCents: after.TotalCents, Created: created, Shipped: shipped})
			if err != nil {
				t.Fatal(err)
			}
			custs[after.CustomerID] = c
			versions[checker.CustomerOrders][after.CustomerID]++
		case "users":
			ev, err := users.Events.Decode(e.Data)
			if err != nil {
				continue
			}
			before := usrs[e.ID]
			after, err := users.Evolve(before, ev)
			if err != nil {
				continue
			}
			usrs[e.ID] = after
			was, is := effective(before), effective(after)
			apply := func(r string, holds bool) {
				s, err := projections.EvolveRole(roles[r], projections.Membership{User: e.ID, Holds: holds})
				if err != nil {
					t.Fatal(err)
				}
				roles[r] = s
				versions[checker.UsersByRole][r]++
			}
			for _, r := range was {
				if !slices.Contains(is, r) {
					apply(r, false)
				}
			}
			for _, r := range is {
				if !slices.Contains(was, r) {
					apply(r, true)
				}
			}
		}
	}
	f, err := checker.FoldTopics(recs)
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.Projections()
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]map[string]any{checker.CustomerOrders: {}, checker.UsersByRole: {}}
	for k, c := range custs {
		states[checker.CustomerOrders][k] = c
	}
	for k, r := range roles {
		states[checker.UsersByRole][k] = r
	}
	diffs := 0
	for name, keys := range states {
		if len(got[name]) != len(keys) {
			t.Errorf("%s: the checker has %d keys, the demo %d", name, len(got[name]), len(keys))
		}
		for k, s := range keys {
			b, _ := json.Marshal(s)
			g, ok := got[name][k]
			if !ok || g.Version != versions[name][k] || !jsonEqual(g.State, b) {
				if diffs++; diffs <= 5 {
					t.Errorf("%s/%s: checker version %d state %s (present %v), demo version %d state %s", name, k, g.Version, g.State, ok, versions[name][k], b)
				}
			}
		}
	}
	if diffs > 0 {
		t.Errorf("%d keys differ", diffs)
	}
	t.Logf("%d customer-orders keys, %d users-by-role keys agree", len(custs), len(roles))
}
