package systemtest

import (
	"math/rand"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventfold/eventfold/demo"
	"github.com/eventfold/eventfold/kafka"
)

// produceDemo appends the demo events for app in batches, calling between
// after each batch (to inject faults while the stream is flowing).
func produceDemo(t *testing.T, app string, seed int64, entities, events, batch int, between func(done int)) {
	t.Helper()
	pr, err := kafka.NewProducer(brokers, saramaConfig(), kafka.FNV1a)
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	all := demo.Generate(seed, entities, events)
	ctx := ctxFor(t, 10*time.Minute)
	for i := 0; i < len(all); i += batch {
		end := min(i+batch, len(all))
		recs := make([]kafka.Record, 0, end-i)
		for _, e := range all[i:end] {
			recs = append(recs, kafka.Record{Topic: app + "-" + e.Entity + "-events", Key: e.ID, Value: e.Data})
		}
		if _, err := pr.SendAll(ctx, recs); err != nil {
			t.Fatalf("produce batch at %d: %v", i, err)
		}
		if between != nil {
			between(end)
		}
	}
}

// kill -9 eventfold nodes at random moments while 200k events stream in,
// restart them (from their data dir, or from nothing), and check that every
// entity equals an independent fold of the events topics.
func TestKill9NodesMidStream(t *testing.T) {
	app := uniqueApp("kill9")
	nodes := []*proc{newProc(t, app, "n1"), newProc(t, app, "n2"), newProc(t, app, "n3")}
	for _, n := range nodes {
		n.start(t)
	}
	waitReady(t, 90*time.Second, nodes...)

	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	var kills, wipes atomic.Int32
	const events, entities = 200_000, 20_000
	next := 20_000 + rng.Intn(20_000)
	start := time.Now()
	produceDemo(t, app, 7, entities, events, 2000, func(done int) {
		if done < next || kills.Load() >= 4 {
			return
		}
		victim := nodes[rng.Intn(len(nodes))]
		if !victim.running() {
			return // still down from its last kill: try another at the next batch
		}
		next = done + 25_000 + rng.Intn(20_000)
		victim.kill9()
		// Every other kill loses the local tables too (recovery from the
		// changelog alone); the others restart on tables that lost their
		// last unflushed batch.
		if kills.Add(1)%2 == 0 {
			os.RemoveAll(victim.dataDir)
			wipes.Add(1)
		}
		t.Logf("kill -9 %s after %d events (wiped: %v)", victim.id, done, wipes.Load())
		pause := time.Duration(500+rng.Intn(2000)) * time.Millisecond
		go func() {
			time.Sleep(pause)
			victim.start(t)
		}()
	})
	produced := time.Since(start)
	time.Sleep(3 * time.Second) // let the last restart begin
	waitReady(t, 2*time.Minute, nodes...)

	want := independentFold(t, app)
	res := checkConverges(t, want, nodes, 3*time.Minute)
	report(t, "| kill -9 nodes mid-stream | %d events, %d entities, 3 nodes, %d kills (%d with data dir wiped) | produced in %.1fs, converged after %.1fs | %s |",
		events, len(want["orders"])+len(want["users"]), kills.Load(), wipes.Load(), produced.Seconds(), time.Since(start).Seconds(), res)
	if kills.Load() < 3 {
		t.Errorf("only %d kills happened", kills.Load())
	}
}

// Stop one of three brokers (kill -9) mid-stream: producing and folding go on
// (replication 3, min.insync.replicas 2), nothing is lost. Every kind of
// node rides it out: a processor, a processor keeping hot standbys, a
// replica (their writes retry and their sessions rejoin while Kafka moves
// leaders and group coordinators off the dead broker).
func TestBrokerDiesMidStream(t *testing.T) {
	app := uniqueApp("broker")
	nodes := []*proc{newProc(t, app, "n1"), newProc(t, app, "n2", "--hot-standby"), newProc(t, app, "r1", "--role", "replica")}
	for _, n := range nodes {
		n.start(t)
	}
	waitReady(t, 90*time.Second, nodes...)
	const events, entities = 60_000, 6_000
	killed := false
	start := time.Now()
	var killedAt time.Duration
	produceDemo(t, app, 11, entities, events, 1000, func(done int) {
		if !killed && done >= events/3 {
			broker(t, "kill-node", "2")
			killed = true
			t.Cleanup(func() { broker(t, "start-node", "2") })
			killedAt = time.Since(start)
			t.Logf("broker 2 killed after %d events", done)
		}
	})
	produced := time.Since(start)
	want := independentFold(t, app)
	res := checkConverges(t, want, nodes, 3*time.Minute)
	report(t, "| kill -9 one of 3 brokers mid-stream | %d events, %d entities, 2 processors (one with hot standby) + 1 replica, broker killed at %.1fs | produced in %.1fs | %s |",
		events, len(want["orders"])+len(want["users"]), killedAt.Seconds(), produced.Seconds(), res)
}
