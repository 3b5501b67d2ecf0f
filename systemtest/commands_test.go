package systemtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventfold/eventfold/interactive"
	"github.com/eventfold/eventfold/kafka"
	"github.com/eventfold/eventfold/systemtest/checker"
)

// Commands with optimistic concurrency from many clients on few keys, plain
// events appended to the same keys meanwhile, one of three nodes killed
// with kill -9 and restarted: every command a node acknowledged is in the
// topic and applied by the checker's fold (its own copy of the command
// header rule) at the acknowledged version, every entity equals the fold,
// and the histories and ?version=N answers of a sample equal it too.
func TestCommandsAndHistory(t *testing.T) {
	needKafka(t)
	seed := testSeed(t)
	app := uniqueApp("commands")
	nodes := []*proc{newProc(t, app, "n1"), newProc(t, app, "n2"), newProc(t, app, "n3")}
	// n1 first: it creates the topics (three nodes creating them at once
	// can fail with "exists (concurrent create) but its metadata did not
	// show up", which is not what this test is about).
	nodes[0].start(t)
	waitReady(t, 90*time.Second, nodes[0])
	for _, n := range nodes[1:] {
		n.start(t)
	}
	waitReady(t, 90*time.Second, nodes...)
	acks := newAcks(t)

	const total, keysPerType, clients = 2000, 100, 12
	var running atomic.Pointer[[]*proc]
	running.Store(&nodes)
	var attempted atomic.Int64
	var accepted, conflicts, rejected, unavailable atomic.Int64
	var multi atomic.Int64 // accepted commands of more than one event
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	// Also when the test fails early: no load goroutine outlives it.
	defer func() { cancel(); wg.Wait() }()
	client := &http.Client{Timeout: 10 * time.Second}
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(seed + int64(c)))
			for i := 0; attempted.Add(1) <= total && ctx.Err() == nil; i++ {
				ns := *running.Load()
				n := ns[rng.Intn(len(ns))]
				entity, id := "users", fmt.Sprintf("cu-%04d", rng.Intn(keysPerType))
				if rng.Intn(2) == 0 {
					entity, id = "orders", fmt.Sprintf("co-%04d", rng.Intn(keysPerType))
				}
				version, ok := currentVersion(client, n.url, entity, id)
				if !ok {
					unavailable.Add(1)
					continue
				}
				body := decideBody(rng, entity, id, version)
				req, _ := http.NewRequest(http.MethodPost, n.url+"/v1/"+entity+"/"+id+"/commands?expected_version="+strconv.FormatUint(version, 10), bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set(interactive.HeaderIdempotencyKey, fmt.Sprintf("%d-%d-%d", seed, c, i))
				resp, err := client.Do(req)
				if err != nil {
					unavailable.Add(1)
					continue
				}
				var res interactive.CommandResponse
				status := resp.StatusCode
				if status == 200 {
					err = jsonDecodeResp(resp, &res)
				} else {
					resp.Body.Close()
				}
				switch {
				case status == 200 && err == nil:
					accepted.Add(1)
					if res.Events > 1 {
						multi.Add(1)
					}
					if rerr := acks.Record(checker.Ack{Topic: app + "-" + entity + "-events", Key: id, Partition: res.Partition,
						Offset: res.Offset, CommandID: res.CommandID, Version: res.Version}); rerr != nil {
						t.Errorf("ack log: %v", rerr)
					}
				case status == http.StatusConflict:
					conflicts.Add(1)
				case status == http.StatusUnprocessableEntity:
					rejected.Add(1)
				default:
					unavailable.Add(1)
				}
			}
		}(c)
	}
	// Plain events on the same keys meanwhile (they abort commands whose
	// events they land between).
	var plain atomic.Int64
	var plainErr atomic.Value
	pr, err := kafka.NewProducer(brokers, saramaConfig(), kafka.FNV1a)
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	wg.Add(1)
	go func() {
		defer wg.Done()
		rng := rand.New(rand.NewSource(seed - 1))
		tick := time.NewTicker(20 * time.Millisecond) // pacing, ~50 events/s
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			topic, id, v := app+"-users-events", fmt.Sprintf("cu-%04d", rng.Intn(keysPerType)), fmt.Sprintf(`{"type":"UserLoggedIn","at":"2025-06-01T00:%02d:%02dZ"}`, i/60%60, i%60)
			if rng.Intn(2) == 0 {
				topic, id, v = app+"-orders-events", fmt.Sprintf("co-%04d", rng.Intn(keysPerType)), `{"type":"QuantityChanged","sku":"MUG-BLUE","quantity":7}`
			}
			pos, err := pr.Send(ctx, kafka.Record{Topic: topic, Key: id, Value: []byte(v)})
			if err != nil {
				if ctx.Err() == nil {
					plainErr.Store(err.Error())
				}
				continue
			}
			if err := acks.Record(checker.Ack{Topic: topic, Key: id, Partition: pos.Partition, Offset: pos.Offset, SHA256: checker.Hash([]byte(v))}); err != nil {
				plainErr.Store(err.Error())
			}
			plain.Add(1)
		}
	}()

	start := time.Now()
	waitFor(t, 5*time.Minute, "a third of the commands", func() bool { return attempted.Load() >= total/3 })
	survivors := nodes[:2]
	running.Store(&survivors)
	nodes[2].kill9()
	t.Logf("kill -9 n3 after %d commands", attempted.Load())
	waitFor(t, 5*time.Minute, "two thirds of the commands", func() bool { return attempted.Load() >= 2*total/3 })
	if err := nodes[2].launch(); err != nil {
		t.Fatal(err)
	}
	t.Logf("restarted n3 after %d commands", attempted.Load())
	waitFor(t, 5*time.Minute, "all commands", func() bool { return attempted.Load() >= total+clients })
	cancel()
	wg.Wait()
	took := time.Since(start)
	if e := plainErr.Load(); e != nil {
		t.Errorf("plain writer: %v", e)
	}
	waitReady(t, 2*time.Minute, nodes...)
	running.Store(&nodes)

	fold, rep := verify(t, app, acks, nodes, 3*time.Minute)
	c := fold.Counts()
	report(t, "| commands (If-Match) from %d clients on %d keys + plain events on the same keys, kill -9 and restart of 1 of 3 nodes | %d commands: %d accepted (%d of several events), %d conflicts (409), %d rejected (422), %d unavailable; %d plain events; in the topics %d command events, %d of them not applied by the checker's fold | %.1fs | %s |",
		clients, 2*keysPerType, total, accepted.Load(), multi.Load(), conflicts.Load(), rejected.Load(), unavailable.Load(), plain.Load(), c.CommandEvents, c.CommandEventsNotApplied, took.Seconds(), summary(rep))
	if accepted.Load() < total/10 || multi.Load() == 0 || conflicts.Load() == 0 {
		t.Errorf("the load did not exercise the write path: %d accepted, %d of several events, %d conflicts", accepted.Load(), multi.Load(), conflicts.Load())
	}
}

// currentVersion reads the entity's version (0 when it does not exist).
func currentVersion(client *http.Client, base, entity, id string) (uint64, bool) {
	resp, err := client.Get(base + "/v1/" + entity + "/" + id)
	if err != nil {
		return 0, false
	}
	if resp.StatusCode == http.StatusNotFound {
		resp.Body.Close()
		return 0, true
	}
	if resp.StatusCode != 200 {
		resp.Body.Close()
		return 0, false
	}
	var e interactive.EntityResponse
	if err := jsonDecodeResp(resp, &e); err != nil {
		return 0, false
	}
	return e.Version, true
}

var (
	skus  = []string{"MUG-BLUE", "TEA-SENCHA", "BOOK-0042", "PEN-GOLD", "LAMP-DESK"}
	roles = []string{"admin", "ops", "dev"}
)

// decideBody picks a command for the entity at version (many are rejected
// by Decide: that is part of the load).
func decideBody(rng *rand.Rand, entity, id string, version uint64) []byte {
	var c map[string]any
	if entity == "users" {
		switch r := rng.Intn(50); {
		case version == 0:
			c = map[string]any{"type": "CreateUser", "name": "user " + id, "email": id + "@example.com"}
		case r == 0:
			c = map[string]any{"type": "DeleteUser", "reason": "test"}
		case r < 20:
			c = map[string]any{"type": "LogIn", "at": time.Date(2025, 1, 1, 0, 0, rng.Intn(100000), 0, time.UTC).Format(time.RFC3339)}
		case r < 30:
			c = map[string]any{"type": "AssignRole", "role": roles[rng.Intn(len(roles))]}
		case r < 40:
			c = map[string]any{"type": "UnassignRole", "role": roles[rng.Intn(len(roles))]}
		default:
			c = map[string]any{"type": "UpdateUser", "name": fmt.Sprintf("name %d", rng.Intn(1000))}
		}
	} else {
		switch r := rng.Intn(50); {
		case version == 0:
			var items []map[string]any
			for _, i := range rng.Perm(len(skus))[:1+rng.Intn(3)] {
				items = append(items, map[string]any{"sku": skus[i], "quantity": 1 + rng.Intn(5), "price_cents": 100 + rng.Intn(900)})
			}
			c = map[string]any{"type": "PlaceOrder", "customer_id": "cust-" + id, "items": items}
		case r == 0:
			c = map[string]any{"type": "CancelOrder", "reason": "test"}
		case r < 20:
			c = map[string]any{"type": "AddItem", "sku": skus[rng.Intn(len(skus))], "quantity": 1 + rng.Intn(5), "price_cents": 100 + rng.Intn(900)}
		case r < 40:
			c = map[string]any{"type": "ChangeQuantity", "sku": skus[rng.Intn(len(skus))], "quantity": 1 + rng.Intn(9)}
		case r < 46:
			c = map[string]any{"type": "ApproveOrder", "approved_by": "clerk"}
		default:
			c = map[string]any{"type": "ShipOrder", "carrier": "DHL", "tracking_number": "T-" + id}
		}
	}
	b, _ := json.Marshal(c)
	return b
}
