package systemtest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/eventfold/eventfold/systemtest/checker"
)

// The system tests check the cluster with systemtest/checker: an
// independent fold of the events topics (its own Kafka client, decoding and
// rules), the load generators' acknowledged writes against the topics, and
// every entity, plus a sample of histories, against the fold.

// newAcks opens the test's log of acknowledged writes.
func newAcks(t *testing.T) *checker.AckLog {
	t.Helper()
	l, err := checker.CreateAckLog(filepath.Join(t.TempDir(), "acks.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func eventTopics(app string) map[string]string {
	m := map[string]string{}
	for _, e := range checker.Entities() {
		m[e] = app + "-" + e + "-events"
	}
	return m
}

func checkerNodes(nodes []*proc) []checker.Node {
	var out []checker.Node
	for _, n := range nodes {
		out = append(out, &checker.HTTPNode{ID: n.id, URL: n.url})
	}
	return out
}

// historySample is how many entities' histories each check lists.
const historySample = 25

// verify reads the acks and the events topics, folds them, and compares the
// nodes until they converge (or timeout); a wrong entity (state differs at
// the same version, or applied twice) or a lost write fails at once. It
// records the checker's numbers for docs/reliability.md and fails the test
// unless all is well.
func verify(t *testing.T, app string, acks *checker.AckLog, nodes []*proc, timeout time.Duration) (*checker.Fold, checker.Report) {
	t.Helper()
	if err := acks.Flush(); err != nil {
		t.Fatal(err)
	}
	acked, err := checker.ReadAcks(acks.Path())
	if err != nil {
		t.Fatal(err)
	}
	fold, err := checker.Load(ctxFor(t, 5*time.Minute), brokers, eventTopics(app))
	if err != nil {
		t.Fatalf("checker: %v", err)
	}
	var rep checker.Report
	rep.Acks = fold.CheckAcks(acked)
	cn := checkerNodes(nodes)
	deadline := time.Now().Add(timeout)
	for seed := int64(1); ; seed++ {
		rep.Nodes = fold.CompareNodes(ctxFor(t, 5*time.Minute), cn, seed)
		if rep.Nodes.Wrong() || rep.Nodes.Converged() || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second) // polling: the nodes may still be folding
	}
	if rep.Nodes.Converged() && !rep.Nodes.Wrong() {
		rep.History = fold.CheckHistory(ctxFor(t, 5*time.Minute), cn, historySample, 1)
	}
	recordChecker(t, rep)
	if !rep.OK() {
		if !rep.Nodes.Converged() {
			for _, n := range nodes {
				t.Logf("%s log tail:\n%s", n.id, n.tail(15))
			}
		}
		for _, l := range [][]checker.Finding{rep.Acks.Missing, rep.Acks.NotApplied, rep.Nodes.AppliedTwice, rep.Nodes.Mismatched,
			rep.Nodes.Behind, rep.Nodes.Errors, rep.History.Mismatched, rep.History.Errors} {
			for i, f := range l {
				if i == 5 {
					t.Logf("... and %d more", len(l)-5)
					break
				}
				t.Log(f)
			}
		}
		t.Errorf("checker: %v", rep)
	}
	return fold, rep
}

// recordChecker appends the check's numbers to the checker totals file
// (EVENTFOLD_SYSTEMTEST_REPORT + ".checker"), which run.sh sums into
// docs/reliability.md: test, acks checked, missing, command not applied,
// entities checked, mismatched, applied twice, behind, errors, history
// entities, history versions, history mismatched.
func recordChecker(t *testing.T, r checker.Report) {
	if reportPath == "" {
		return
	}
	reportMu.Lock()
	defer reportMu.Unlock()
	f, err := os.OpenFile(reportPath+".checker", os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Errorf("checker report: %v", err)
		return
	}
	defer f.Close()
	fields := []int{r.Acks.Checked, len(r.Acks.Missing), len(r.Acks.NotApplied), r.Nodes.Checked, len(r.Nodes.Mismatched),
		len(r.Nodes.AppliedTwice), len(r.Nodes.Behind), len(r.Nodes.Errors) + len(r.History.Errors),
		r.History.Entities, r.History.Versions, len(r.History.Mismatched)}
	line := t.Name()
	for _, v := range fields {
		line += "\t" + strconv.Itoa(v)
	}
	fmt.Fprintln(f, line)
}

// summary is a report row's result cell.
func summary(r checker.Report) string {
	s := fmt.Sprintf("checker: %d acknowledged writes, %d missing, %d commands not applied; %d entities, %d mismatched, %d applied twice, %d behind, %d errors; history of %d entities (%d events, %d version=N): %d mismatched",
		r.Acks.Checked, len(r.Acks.Missing), len(r.Acks.NotApplied), r.Nodes.Checked, len(r.Nodes.Mismatched), len(r.Nodes.AppliedTwice),
		len(r.Nodes.Behind), len(r.Nodes.Errors)+len(r.History.Errors), r.History.Entities, r.History.Events, r.History.Versions, len(r.History.Mismatched))
	if !r.OK() {
		s = "**FAILED** " + s
	}
	return s
}
