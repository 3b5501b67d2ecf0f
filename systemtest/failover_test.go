package systemtest

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventfold/eventfold/interactive"
	"github.com/eventfold/eventfold/kafka"
	"github.com/eventfold/eventfold/systemtest/checker"
)

// answer is one read of the failover test, judged after the fact against
// the checker's fold.
type answer struct {
	entity, id string
	status     int
	stale      bool
	version    uint64
	offset     int64
	state      json.RawMessage
	at         time.Time
}

// Two processors with hot standby and one replica; readers read all the
// time while a writer appends events; one processor is killed with kill -9
// (no LeaveGroup). Every answer must be a state the entity really had (the
// checker's fold at the answer's version), the owner's answers no older than
// what was folded before the reads began, older ones only flagged stale; and
// no partition may go unanswered for longer than the group session timeout
// plus one lookup deadline (and a second for the rebalance).
func TestFailoverReadsWithStandbys(t *testing.T) {
	needKafka(t)
	seed := testSeed(t)
	app := uniqueApp("failover")
	p1 := newProc(t, app, "p1", "--hot-standby", "--lookup-deadline", "1s")
	p2 := newProc(t, app, "p2", "--hot-standby", "--lookup-deadline", "1s")
	rep := newProc(t, app, "r1", "--role", "replica", "--lookup-deadline", "1s")
	for _, p := range []*proc{p1, p2} {
		p.start(t)
	}
	waitReady(t, 90*time.Second, p1, p2)
	rep.start(t)
	acks := newAcks(t)
	produceDemo(t, app, acks, 17, 4_000, 20_000, 2000, nil)
	before, _ := verify(t, app, acks, []*proc{p1, p2}, 2*time.Minute)
	waitReady(t, 60*time.Second, rep)
	if t.Failed() {
		return
	}

	type key struct{ entity, id string }
	var keys, userKeys []key
	for _, e := range checker.Entities() {
		for id, f := range before.Entities[e] {
			if f.Version > 0 {
				keys = append(keys, key{e, id})
				if e == "users" {
					userKeys = append(userKeys, key{e, id})
				}
			}
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].entity+keys[i].id < keys[j].entity+keys[j].id })
	sort.Slice(userKeys, func(i, j int) bool { return userKeys[i].id < userKeys[j].id })

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	// Also when the test fails early: no load goroutine outlives it.
	defer func() { cancel(); wg.Wait() }()
	// A writer: UserLoggedIn events to random users all through the reads.
	var written atomic.Int64
	var writeErr atomic.Value
	pr, err := kafka.NewProducer(brokers, saramaConfig(), kafka.FNV1a)
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	wg.Add(1)
	go func() {
		defer wg.Done()
		rng := rand.New(rand.NewSource(seed))
		tick := time.NewTicker(10 * time.Millisecond) // pacing, ~100 writes/s
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			k := userKeys[rng.Intn(len(userKeys))]
			v := []byte(fmt.Sprintf(`{"type":"UserLoggedIn","at":"%s"}`, time.Date(2025, 1, 1, 0, 0, i, 0, time.UTC).Format(time.RFC3339)))
			topic := app + "-users-events"
			pos, err := pr.Send(ctx, kafka.Record{Topic: topic, Key: k.id, Value: v})
			if err != nil {
				if ctx.Err() == nil {
					writeErr.Store(err.Error())
				}
				continue
			}
			if err := acks.Record(checker.Ack{Topic: topic, Key: k.id, Partition: pos.Partition, Offset: pos.Offset, SHA256: checker.Hash(v)}); err != nil {
				writeErr.Store(err.Error())
			}
			written.Add(1)
		}
	}()

	var (
		mu      sync.Mutex
		answers []answer
	)
	survivors := []*proc{p2, rep}
	client := &http.Client{Timeout: 10 * time.Second}
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(seed int64) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(seed))
			for ctx.Err() == nil {
				k := keys[rng.Intn(len(keys))]
				n := survivors[rng.Intn(len(survivors))]
				a := answer{entity: k.entity, id: k.id}
				resp, err := client.Get(n.url + "/v1/" + k.entity + "/" + k.id)
				if err == nil {
					a.status = resp.StatusCode
					a.stale = resp.Header.Get(interactive.HeaderStale) == "true"
					var body interactive.EntityResponse
					if a.status == 200 && jsonDecodeResp(resp, &body) == nil {
						a.version, a.offset, a.state = body.Version, body.Offset, body.State
					} else {
						resp.Body.Close()
					}
				}
				a.at = time.Now()
				mu.Lock()
				answers = append(answers, a)
				mu.Unlock()
			}
		}(seed + int64(w))
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(answers) }
	// Kill once reads and writes flow.
	waitFor(t, time.Minute, "2000 reads and 200 writes before the kill", func() bool { return count() >= 2000 && written.Load() >= 200 })
	killed := time.Now()
	p1.kill9()
	// Reads go on until the survivor owns every partition and has answered
	// for each of them (owner answers, not stale) since, and a second more.
	var assigned time.Time
	waitFor(t, sessionTimeout+time.Minute, "the survivor owns every partition", func() bool {
		_, _, owned := standbyMetrics(p2.url)
		return owned == 12
	})
	assigned = time.Now()
	waitFor(t, time.Minute, "owner answers for every partition after the assignment", func() bool {
		mu.Lock()
		defer mu.Unlock()
		seen := map[string]bool{}
		for i := len(answers) - 1; i >= 0 && answers[i].at.After(assigned); i-- {
			if a := answers[i]; a.status == 200 && !a.stale {
				seen[partKey(a.entity, a.id)] = true
			}
		}
		return len(seen) == 24
	})
	writesAtStop := written.Load()
	cancel()
	wg.Wait()
	if e := writeErr.Load(); e != nil {
		t.Errorf("writer: %v", e)
	}

	// The fold after all writes: every answer must be a state it gives.
	after, crep := verify(t, app, acks, survivors, 2*time.Minute)
	type at struct {
		entity, id string
		v          uint64
	}
	states := map[at]struct {
		s   json.RawMessage
		off int64
	}{}
	var ok, stale, staleOld, wrong, failed int
	var firstWrong string
	var maxGap time.Duration
	var gapWhere string
	lastGood := map[string]time.Time{}
	for _, a := range answers {
		if a.status != 200 {
			failed++
			continue
		}
		k := at{a.entity, a.id, a.version}
		s, seen := states[k]
		if !seen {
			s.s, s.off, _ = after.StateAt(a.entity, a.id, a.version)
			states[k] = s
		}
		base := before.Entities[a.entity][a.id].Version
		switch {
		case s.s == nil || a.offset != s.off || !sameState(a.state, s.s):
			wrong++ // a state the entity never had at that version
			if firstWrong == "" {
				firstWrong = fmt.Sprintf("%s/%s version %d offset %d stale %v: %s, the fold's offset %d %s", a.entity, a.id, a.version, a.offset, a.stale, a.state, s.off, s.s)
			}
			continue
		case !a.stale && a.version < base:
			wrong++ // an owner answered older than what it had folded before
			if firstWrong == "" {
				firstWrong = fmt.Sprintf("%s/%s: version %d not flagged stale, version %d was folded before the reads", a.entity, a.id, a.version, base)
			}
			continue
		}
		ok++
		if a.stale {
			stale++
			if a.version < after.Entities[a.entity][a.id].Version {
				staleOld++
			}
		}
		pk := partKey(a.entity, a.id)
		if last, seen := lastGood[pk]; seen && a.at.Sub(last) > maxGap {
			maxGap, gapWhere = a.at.Sub(last), pk
		}
		lastGood[pk] = a.at
	}
	report(t, "| failover: kill -9 one of 2 processors (hot standby) + 1 replica, reads and writes continue | %d keys, 8 readers on the survivors, %d writes during the reads | survivor owned every partition %.2fs after the kill; longest gap without a right answer for a partition: %.2fs (%s) | %d right (%d stale-flagged, %d of them older than the final state), %d wrong, %d errors; %s |",
		len(keys), writesAtStop, assigned.Sub(killed).Seconds(), maxGap.Seconds(), gapWhere, ok, stale, staleOld, wrong, failed, summary(crep))
	if wrong != 0 {
		t.Errorf("%d answers are no state the entity had at their version (or an unflagged old one); first: %s", wrong, firstWrong)
	}
	if failed != 0 {
		t.Errorf("%d reads failed", failed)
	}
	if limit := sessionTimeout + time.Second + time.Second; maxGap > limit {
		t.Errorf("partition %s went %v without a right answer (limit %v)", gapWhere, maxGap, limit)
	}
}

// partKey names an entity type's partition of id, for gap tracking.
func partKey(entity, id string) string {
	return fmt.Sprintf("%s/%d", entity, kafka.FNV1a.Partition(id, 12))
}

// sameState compares two JSON states by value.
func sameState(a, b []byte) bool {
	return string(compact(a)) == string(compact(b)) || jsonEqual(a, b)
}

// waitFor polls cond every 50 ms until it holds, or fails the test.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
