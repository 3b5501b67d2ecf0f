package systemtest

import (
	"math/rand"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/eventfold/eventfold/demo"
	"github.com/eventfold/eventfold/kafka"
	"github.com/eventfold/eventfold/systemtest/checker"
)

// produceDemo appends the demo events for app in batches, records every
// acknowledged write in acks, and calls between after each batch (to inject
// faults while the stream is flowing).
func produceDemo(t *testing.T, app string, acks *checker.AckLog, seed int64, entities, events, batch int, between func(done int)) {
	t.Helper()
	produceEvents(t, app, acks, demo.Generate(seed, entities, events), batch, between)
}

// produceEvents appends events to app's topics in batches, records every
// acknowledged write in acks, and calls between after each batch.
func produceEvents(t *testing.T, app string, acks *checker.AckLog, all []demo.Event, batch int, between func(done int)) {
	t.Helper()
	pr, err := kafka.NewProducer(brokers, saramaConfig(), kafka.FNV1a)
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	ctx := ctxFor(t, 10*time.Minute)
	for i := 0; i < len(all); i += batch {
		end := min(i+batch, len(all))
		recs := make([]kafka.Record, 0, end-i)
		for _, e := range all[i:end] {
			recs = append(recs, kafka.Record{Topic: app + "-" + e.Entity + "-events", Key: e.ID, Value: e.Data})
		}
		pos, err := pr.SendAll(ctx, recs)
		if err != nil {
			t.Fatalf("produce batch at %d: %v", i, err)
		}
		logged := make([]checker.Ack, len(recs))
		for j, r := range recs {
			logged[j] = checker.Ack{Topic: r.Topic, Key: r.Key, Partition: pos[j].Partition, Offset: pos[j].Offset, SHA256: checker.Hash(r.Value)}
		}
		if err := acks.Record(logged...); err != nil {
			t.Fatal(err)
		}
		if between != nil {
			between(end)
		}
	}
}

// testSeed is EVENTFOLD_SYSTEMTEST_SEED if set, else the clock; it is
// logged so that a failing run can be repeated.
func testSeed(t *testing.T) int64 {
	t.Helper()
	seed := time.Now().UnixNano()
	if v := os.Getenv("EVENTFOLD_SYSTEMTEST_SEED"); v != "" {
		var err error
		if seed, err = strconv.ParseInt(v, 10, 64); err != nil {
			t.Fatalf("EVENTFOLD_SYSTEMTEST_SEED=%q: %v", v, err)
		}
	}
	t.Logf("seed %d (EVENTFOLD_SYSTEMTEST_SEED=%d repeats the fault schedule)", seed, seed)
	return seed
}

// kill -9 eventfold nodes at random moments while 200k events stream in,
// restart them (from their data dir, or from nothing), and check that every
// entity equals an independent fold of the events topics and that no
// acknowledged write is missing. The fault schedule is counted in produced
// events (kill after N, restart after M more), drawn from the logged seed.
func TestKill9NodesMidStream(t *testing.T) {
	needKafka(t)
	seed := testSeed(t)
	app := uniqueApp("kill9")
	nodes := []*proc{newProc(t, app, "n1"), newProc(t, app, "n2"), newProc(t, app, "n3")}
	for _, n := range nodes {
		n.start(t)
	}
	waitReady(t, 90*time.Second, nodes...)

	rng := rand.New(rand.NewSource(seed))
	acks := newAcks(t)
	kills, wipes := 0, 0
	const events, entities = 200_000, 20_000
	next := 20_000 + rng.Intn(20_000)
	restartAt := map[*proc]int{} // down node -> events produced when it comes back
	restart := func(n *proc, done int) {
		if err := n.launch(); err != nil {
			t.Fatalf("restart %s: %v", n.id, err)
		}
		delete(restartAt, n)
		t.Logf("restarted %s after %d events", n.id, done)
	}
	start := time.Now()
	produceDemo(t, app, acks, 7, entities, events, 2000, func(done int) {
		for n, at := range restartAt {
			if done >= at {
				restart(n, done)
			}
		}
		if done < next || kills >= 4 {
			return
		}
		victim := nodes[rng.Intn(len(nodes))]
		if !victim.running() {
			return // still down from its last kill: try another at the next batch
		}
		next = done + 25_000 + rng.Intn(20_000)
		victim.kill9()
		kills++
		// Every other kill loses the local tables too (recovery from the
		// changelog alone); the others restart on tables that lost their
		// last unflushed batch.
		wiped := kills%2 == 0
		if wiped {
			os.RemoveAll(victim.dataDir)
			wipes++
		}
		t.Logf("kill -9 %s after %d events (data dir wiped: %v)", victim.id, done, wiped)
		// Down for 2,000-10,000 more events (a batch or five).
		restartAt[victim] = done + 2000 + rng.Intn(8000)
	})
	produced := time.Since(start)
	for n := range restartAt {
		restart(n, events)
	}
	waitReady(t, 2*time.Minute, nodes...)

	_, rep := verify(t, app, acks, nodes, 3*time.Minute)
	report(t, "| kill -9 nodes mid-stream (seed %d) | %d events, %d entities, 3 nodes, %d kills (%d with data dir wiped) | produced in %.1fs, converged after %.1fs | %s |",
		seed, events, rep.Nodes.Checked, kills, wipes, produced.Seconds(), time.Since(start).Seconds(), summary(rep))
	if kills < 3 {
		t.Errorf("only %d kills happened", kills)
	}
}

// Stop one of three brokers (kill -9) mid-stream: producing and folding go on
// (replication 3, min.insync.replicas 2), nothing acknowledged is lost. Every
// kind of node rides it out: a processor, a processor keeping hot standbys, a
// replica (their writes retry and their sessions rejoin while Kafka moves
// leaders and group coordinators off the dead broker).
func TestBrokerDiesMidStream(t *testing.T) {
	needKafka(t)
	app := uniqueApp("broker")
	nodes := []*proc{newProc(t, app, "n1"), newProc(t, app, "n2", "--hot-standby"), newProc(t, app, "r1", "--role", "replica")}
	for _, n := range nodes {
		n.start(t)
	}
	waitReady(t, 90*time.Second, nodes...)
	const events, entities = 60_000, 6_000
	acks := newAcks(t)
	killed := false
	start := time.Now()
	var killedAt time.Duration
	produceDemo(t, app, acks, 11, entities, events, 1000, func(done int) {
		if !killed && done >= events/3 {
			broker(t, "kill-node", "2")
			killed = true
			t.Cleanup(func() { broker(t, "start-node", "2") })
			killedAt = time.Since(start)
			t.Logf("broker 2 killed after %d events", done)
		}
	})
	produced := time.Since(start)
	_, rep := verify(t, app, acks, nodes, 3*time.Minute)
	report(t, "| kill -9 one of 3 brokers mid-stream | %d events, %d entities, 2 processors (one with hot standby) + 1 replica, broker killed at %.1fs | produced in %.1fs | %s |",
		events, rep.Nodes.Checked, killedAt.Seconds(), produced.Seconds(), summary(rep))
}
