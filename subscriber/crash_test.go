package subscriber_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/eventfold/eventfold/eventfoldtest"
	"github.com/eventfold/eventfold/kafka"
	"github.com/eventfold/eventfold/subscriber"
)

// The crash tests run a Runner in a child process (this test binary again,
// TestCrashChild) against the test's kfake broker and kill it with SIGKILL:
// no drain, no last flush, no commit. The child appends every delivery to
// a file as the handler gets it.

type logged struct {
	EventID   string          `json:"event_id"`
	ID        string          `json:"id"`
	Partition int32           `json:"partition"`
	Offset    int64           `json:"offset"`
	Applied   bool            `json:"applied"`
	Version   uint64          `json:"version"`
	State     json.RawMessage `json:"state"`
	Attempt   int             `json:"attempt"`
}

func TestCrashChild(t *testing.T) {
	if os.Getenv("SUBSCRIBER_CRASH_CHILD") == "" {
		t.Skip("run by the crash tests in a child process")
	}
	out, err := os.OpenFile(os.Getenv("SUBSCRIBER_CRASH_OUT"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	h := subscriber.HandlerFunc(func(ctx context.Context, d subscriber.Delivery) error {
		b, _ := json.Marshal(logged{d.EventID, d.ID, d.Partition, d.Offset, d.Applied, d.Version, d.State, d.Attempt})
		mu.Lock()
		_, err := out.Write(append(b, '\n'))
		mu.Unlock()
		if err != nil {
			return err
		}
		time.Sleep(time.Millisecond)
		return nil
	})
	mode := subscriber.AtLeastOnce
	if os.Getenv("SUBSCRIBER_CRASH_MODE") == "at-most-once" {
		mode = subscriber.AtMostOnce
	}
	brokers := strings.Split(os.Getenv("SUBSCRIBER_CRASH_BROKERS"), ",")
	r := start(t, brokers, os.Getenv("SUBSCRIBER_CRASH_APP"), []subscriber.Subscriber{{Name: "crash", Entities: []string{"counters"}, Handler: h, Mode: mode, Concurrency: 4}})
	// Done when every partition is claimed and nothing is left: the parent
	// waits for this exit on the last run.
	for stable := 0; stable < 10; time.Sleep(100 * time.Millisecond) {
		s := status(r, "crash")
		if s.Lag == 0 && len(s.Partitions["counters"]) == 4 {
			stable++
		} else {
			stable = 0
		}
	}
}

// crashRun runs the child until the log has grown by at least more lines,
// then kills it; with more 0 it lets the child finish.
func crashRun(t *testing.T, brokers []string, app, mode, log string, more int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "SUBSCRIBER_CRASH_CHILD=1", "SUBSCRIBER_CRASH_OUT="+log,
		"SUBSCRIBER_CRASH_MODE="+mode, "SUBSCRIBER_CRASH_APP="+app, "SUBSCRIBER_CRASH_BROKERS="+strings.Join(brokers, ","))
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	before := len(readLog(t, log))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	if more == 0 {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("child: %v\n%s", err, stderr.String())
			}
		case <-time.After(2 * time.Minute):
			_ = cmd.Process.Kill()
			t.Fatalf("child did not finish\n%s", stderr.String())
		}
		return
	}
	eventfoldtest.Eventually(t, time.Minute, func() error {
		if n := len(readLog(t, log)); n < before+more {
			return fmt.Errorf("%d deliveries logged, waiting for %d", n, before+more)
		}
		return nil
	})
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
}

func readLog(t *testing.T, path string) []logged {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []logged
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l logged
		if json.Unmarshal(sc.Bytes(), &l) == nil { // a line cut by the kill is not a delivery
			out = append(out, l)
		}
	}
	return out
}

// crashScenario appends a scenario, runs the child in mode killed four
// times (each after 150 more deliveries) and once to the end, and returns
// what it logged.
func crashScenario(t *testing.T, mode string, seed uint64) (*eventfoldtest.Kafka, []kafka.Record, map[string][]want, []logged) {
	t.Helper()
	k := eventfoldtest.NewKafka(t, 1)
	ensureTopics(t, k.Brokers)
	recs, wants := scenario(60, 25, seed)
	produce(t, k.Brokers, recs)
	log := filepath.Join(t.TempDir(), "deliveries")
	app := "crash-" + mode
	for range 4 {
		crashRun(t, k.Brokers, app, mode, log, 150)
	}
	crashRun(t, k.Brokers, app, mode, log, 0)
	return k, recs, wants, readLog(t, log)
}

func TestKill9AtLeastOnceDeliversEverythingWithTheSameState(t *testing.T) {
	if testing.Short() {
		t.Skip("kills child processes")
	}
	_, recs, wants, got := crashScenario(t, "at-least-once", 4)
	first := map[string]logged{}
	var ds []subscriber.Delivery
	again := 0
	for _, l := range got {
		if f, ok := first[l.EventID]; ok {
			again++
			if f.Applied != l.Applied || f.Version != l.Version || !jsonEq(f.State, l.State) {
				t.Errorf("%s again with version %d state %s, first %d %s", l.EventID, l.Version, l.State, f.Version, f.State)
			}
			continue
		}
		first[l.EventID] = l
		ds = append(ds, subscriber.Delivery{EventID: l.EventID, ID: l.ID, Partition: l.Partition, Offset: l.Offset, Applied: l.Applied, Version: l.Version, State: l.State})
	}
	if len(first) != len(recs) {
		t.Fatalf("%d of %d events delivered", len(first), len(recs))
	}
	checkDeliveries(t, ds, wants)
	t.Logf("%d events, 4 kills, %d deliveries repeated", len(recs), again)
}

func TestKill9AtMostOnceNeverDeliversTwice(t *testing.T) {
	if testing.Short() {
		t.Skip("kills child processes")
	}
	k, recs, wants, logs := crashScenario(t, "at-most-once", 5)
	got := map[string][]subscriber.Delivery{}
	seen := map[string]int{}
	for _, l := range logs {
		seen[l.EventID]++
		if seen[l.EventID] == 2 {
			t.Errorf("%s delivered twice at most once", l.EventID)
		}
		got[l.ID] = append(got[l.ID], subscriber.Delivery{EventID: l.EventID, ID: l.ID, Partition: l.Partition, Offset: l.Offset, Applied: l.Applied, Version: l.Version, State: l.State})
	}
	checkSubset(t, k.Brokers, got, wants)
	t.Logf("%d of %d events delivered through 4 kills", len(seen), len(recs))
}

func jsonEq(a, b json.RawMessage) bool {
	var x, y any
	_ = json.Unmarshal(a, &x)
	_ = json.Unmarshal(b, &y)
	return fmt.Sprint(x) == fmt.Sprint(y)
}
