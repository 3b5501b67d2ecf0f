package systemtest

import (
	"fmt"
	"math/rand"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/eventfold/eventfold/interactive"
	"github.com/eventfold/eventfold/kafka"
)

// Two processors with hot standby and one replica; readers read all the
// time; one processor is killed with kill -9 (no LeaveGroup). Every answer
// must be right or flagged stale, and no partition may go unanswered for
// longer than the group session timeout plus one lookup deadline (and a
// second for the rebalance).
func TestFailoverReadsWithStandbys(t *testing.T) {
	app := uniqueApp("failover")
	p1 := newProc(t, app, "p1", "--hot-standby", "--lookup-deadline", "1s")
	p2 := newProc(t, app, "p2", "--hot-standby", "--lookup-deadline", "1s")
	rep := newProc(t, app, "r1", "--role", "replica", "--lookup-deadline", "1s")
	for _, p := range []*proc{p1, p2} {
		p.start(t)
	}
	waitReady(t, 90*time.Second, p1, p2)
	rep.start(t)
	produceDemo(t, app, 17, 4_000, 20_000, 2000, nil)
	want := independentFold(t, app)
	checkConverges(t, want, []*proc{p1, p2}, 2*time.Minute)
	waitReady(t, 60*time.Second, rep)

	type key struct{ entity, id string }
	var keys []key
	for e, ids := range want {
		for id := range ids {
			keys = append(keys, key{e, id})
		}
	}
	const parts = 12
	var (
		mu       sync.Mutex
		lastOK   = map[string]time.Time{} // entity/partition -> last good answer
		maxGap   time.Duration
		gapWhere string
		ok       int
		stale    int
		wrong    int
		failed   int
		slowest  time.Duration
	)
	survivors := []*proc{p2, rep}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second}
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(seed int64) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(seed))
			for {
				select {
				case <-stop:
					return
				default:
				}
				k := keys[rng.Intn(len(keys))]
				n := survivors[rng.Intn(len(survivors))]
				start := time.Now()
				resp, err := client.Get(n.url + "/v1/" + k.entity + "/" + k.id)
				var body interactive.EntityResponse
				status := 0
				isStale := false
				if err == nil {
					status = resp.StatusCode
					isStale = resp.Header.Get(interactive.HeaderStale) == "true"
					if status == 200 {
						_ = jsonDecodeResp(resp, &body)
					} else {
						resp.Body.Close()
					}
				}
				now := time.Now()
				pk := fmt.Sprintf("%s/%d", k.entity, kafka.FNV1a.Partition(k.id, parts))
				mu.Lock()
				slowest = max(slowest, now.Sub(start))
				switch {
				case status != 200:
					failed++
				case string(compact(body.State)) == string(want[k.entity][k.id].state) && body.Version == want[k.entity][k.id].version:
					ok++
					if isStale {
						stale++
					}
					if last, seen := lastOK[pk]; seen && now.Sub(last) > maxGap {
						maxGap, gapWhere = now.Sub(last), pk
					}
					lastOK[pk] = now
				case isStale:
					stale++ // an older state, honestly flagged
				default:
					wrong++
				}
				mu.Unlock()
			}
		}(int64(w))
	}
	time.Sleep(3 * time.Second)
	p1.kill9()
	// Reads go on through the session timeout, the rebalance and recovery.
	time.Sleep(sessionTimeout + 12*time.Second)
	close(stop)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	report(t, "| failover: kill -9 one of 2 processors (hot standby) + 1 replica, reads continue | %d keys, 8 readers on the survivors | longest gap without a good answer for a partition: %.2fs (%s); slowest request %.2fs | %d correct (%d of them stale-flagged), %d wrong, %d errors |",
		len(keys), maxGap.Seconds(), gapWhere, slowest.Seconds(), ok, stale, wrong, failed)
	if wrong != 0 {
		t.Errorf("%d wrong answers not flagged stale", wrong)
	}
	if failed != 0 {
		t.Errorf("%d reads failed", failed)
	}
	if limit := sessionTimeout + time.Second + time.Second; maxGap > limit {
		t.Errorf("partition %s went %v without an answer (limit %v)", gapWhere, maxGap, limit)
	}
}
