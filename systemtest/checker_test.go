package systemtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventfold/eventfold/demo/orders"
	"github.com/eventfold/eventfold/demo/users"
	"github.com/eventfold/eventfold/interactive"
	"github.com/eventfold/eventfold/kafka"
)

// folded is what an independent fold of the events topic says an entity is.
type folded struct {
	state   []byte
	version uint64
	offset  int64
}

// independentFold reads the events topics of app from Kafka and folds them
// with the domain's Evolve directly (no eventfold code on the path), in
// offset order per partition, skipping rejected events.
func independentFold(t *testing.T, app string) map[string]map[string]folded {
	t.Helper()
	out := map[string]map[string]folded{}
	ctx := ctxFor(t, 5*time.Minute)
	for _, entity := range []string{"orders", "users"} {
		msgs, err := kafka.ReadAll(ctx, brokers, saramaConfig(), app+"-"+entity+"-events")
		if err != nil {
			t.Fatalf("read %s events: %v", entity, err)
		}
		ords := map[string]orders.Order{}
		usrs := map[string]users.User{}
		vers := map[string]uint64{}
		offs := map[string]int64{}
		for _, m := range msgs {
			key := string(m.Key)
			switch entity {
			case "orders":
				ev, err := orders.Events.Decode(m.Value)
				if err != nil {
					continue
				}
				s, err := orders.Evolve(ords[key], ev)
				if err != nil {
					continue
				}
				ords[key] = s
			case "users":
				ev, err := users.Events.Decode(m.Value)
				if err != nil {
					continue
				}
				s, err := users.Evolve(usrs[key], ev)
				if err != nil {
					continue
				}
				usrs[key] = s
			}
			vers[key]++
			offs[key] = m.Offset
		}
		res := map[string]folded{}
		for k, v := range vers {
			var b []byte
			if entity == "orders" {
				b, _ = json.Marshal(ords[k])
			} else {
				b, _ = json.Marshal(usrs[k])
			}
			res[k] = folded{state: b, version: v, offset: offs[k]}
		}
		out[entity] = res
	}
	return out
}

// compareResult counts what the cluster serves against the independent fold.
type compareResult struct {
	checked, mismatched, behind, ahead, errors int
	first                                      string
}

// compare reads every entity from a random node and compares state and
// version. behind = version lower than the fold (lost or not yet applied),
// ahead = higher (applied twice).
func compare(ctx context.Context, want map[string]map[string]folded, nodes []*proc) compareResult {
	var mu sync.Mutex
	var res compareResult
	type job struct{ entity, id string }
	jobs := make(chan job)
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(seed int64) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(seed))
			for j := range jobs {
				n := nodes[rng.Intn(len(nodes))]
				a, err := interactive.NewClient(n.url, "").Get(ctx, j.entity, j.id)
				w := want[j.entity][j.id]
				mu.Lock()
				res.checked++
				switch {
				case err != nil:
					res.errors++
					if res.first == "" {
						res.first = fmt.Sprintf("%s/%s via %s: %v", j.entity, j.id, n.id, err)
					}
				case a.Version < w.version:
					res.behind++
				case a.Version > w.version:
					res.ahead++
					if res.first == "" {
						res.first = fmt.Sprintf("%s/%s: version %d > independent %d", j.entity, j.id, a.Version, w.version)
					}
				case !bytes.Equal(compact(a.State), w.state):
					res.mismatched++
					if res.first == "" {
						res.first = fmt.Sprintf("%s/%s:\n got %s\nwant %s", j.entity, j.id, a.State, w.state)
					}
				}
				mu.Unlock()
			}
		}(int64(w))
	}
	for entity, ids := range want {
		for id := range ids {
			jobs <- job{entity, id}
		}
	}
	close(jobs)
	wg.Wait()
	return res
}

func compact(b []byte) []byte {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return b
	}
	return buf.Bytes()
}

func (r compareResult) ok() bool {
	return r.mismatched == 0 && r.behind == 0 && r.ahead == 0 && r.errors == 0
}

func (r compareResult) String() string {
	s := fmt.Sprintf("checked %d, mismatched %d, behind %d, ahead %d, errors %d", r.checked, r.mismatched, r.behind, r.ahead, r.errors)
	if r.first != "" {
		s += "; first: " + strings.SplitN(r.first, "\n", 2)[0]
	}
	return s
}

// checkConverges re-compares until the cluster matches the fold (the fold
// may still be catching up) or the timeout; it fails on applied-twice at once.
func checkConverges(t *testing.T, want map[string]map[string]folded, nodes []*proc, timeout time.Duration) compareResult {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		res := compare(ctxFor(t, 5*time.Minute), want, nodes)
		if res.ok() {
			return res
		}
		if res.ahead > 0 || res.mismatched > 0 {
			t.Fatalf("cluster disagrees with the independent fold: %v", res)
		}
		if time.Now().After(deadline) {
			for _, n := range nodes {
				t.Logf("%s log tail:\n%s", n.id, n.tail(15))
			}
			t.Fatalf("cluster did not converge in %v: %v", timeout, res)
		}
		time.Sleep(time.Second)
	}
}
