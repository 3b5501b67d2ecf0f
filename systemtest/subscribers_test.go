package systemtest

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventfold/eventfold/demo"
	"github.com/eventfold/eventfold/subscriber"
	"github.com/eventfold/eventfold/systemtest/checker"
)

// receiver is the webhook's far end: it checks each request's signature
// and keeps every delivery it was sent, with when.
type receiver struct {
	secret []byte
	url    string

	mu     sync.Mutex
	got    map[string][]received // by event id
	bad    int                   // requests whose signature did not verify
	posted int
}

type received struct {
	at      time.Time
	Applied bool            `json:"applied"`
	Version uint64          `json:"version"`
	State   json.RawMessage `json:"state"`
	Entity  string          `json:"entity"`
	ID      string          `json:"id"`
	EventID string          `json:"event_id"`
	Attempt int             `json:"attempt"`
}

func newReceiver(t *testing.T, secret string) *receiver {
	r := &receiver{secret: []byte(secret), got: map[string][]received{}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: r}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	r.url = "http://" + l.Addr().String() + "/hook"
	return r
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if err := subscriber.VerifyWebhook(r.secret, req.Header.Get(subscriber.WebhookHeaderSignature), body, time.Now(), time.Minute); err != nil {
		r.mu.Lock()
		r.bad++
		r.mu.Unlock()
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var d received
	if err := json.Unmarshal(body, &d); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	d.at = time.Now()
	r.mu.Lock()
	r.got[d.EventID] = append(r.got[d.EventID], d)
	r.posted++
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) snapshot() (map[string][]received, int, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string][]received, len(r.got))
	for k, v := range r.got {
		out[k] = append([]received(nil), v...)
	}
	return out, r.bad, r.posted
}

func shopEvent(entity, id, body string) demo.Event {
	return demo.Event{Entity: entity, ID: id, Data: []byte(body)}
}

// shopData is the test's own data set: users created first, then orders of
// those users (items, approval) that ship or are cancelled, interleaved.
// It returns the events in order and, per user, how many of its orders
// ship and for how much.
func shopData(seed int64, users, orders int) ([]demo.Event, map[string]int, map[string]int64, map[string]string) {
	rng := rand.New(rand.NewSource(seed))
	var out []demo.Event
	for u := range users {
		out = append(out, shopEvent("users", fmt.Sprintf("user-%05d", u), fmt.Sprintf(`{"type":"UserCreated","name":"User %d","email":"u%d@example.com"}`, u, u)))
	}
	shipped, cents := map[string]int{}, map[string]int64{}
	shippedOrders := map[string]string{} // order id -> customer
	streams := make([][]demo.Event, orders)
	for o := range orders {
		id, user := fmt.Sprintf("order-%06d", o), fmt.Sprintf("user-%05d", rng.Intn(users))
		s := []demo.Event{shopEvent("orders", id, fmt.Sprintf(`{"type":"OrderCreated","customer_id":%q}`, user))}
		var total int64
		for i := range 1 + rng.Intn(3) {
			q, p := 1+rng.Intn(5), int64(100+rng.Intn(5000))
			total += int64(q) * p
			s = append(s, shopEvent("orders", id, fmt.Sprintf(`{"type":"ItemAdded","sku":"sku-%d","quantity":%d,"price_cents":%d}`, i, q, p)))
		}
		s = append(s, shopEvent("orders", id, `{"type":"OrderApproved","approved_by":"ops"}`))
		if rng.Intn(5) == 0 {
			s = append(s, shopEvent("orders", id, `{"type":"OrderCancelled","reason":"customer request"}`))
		} else {
			s = append(s, shopEvent("orders", id, `{"type":"OrderShipped","carrier":"dhl"}`))
			shipped[user]++
			cents[user] += total
			shippedOrders[id] = user
		}
		streams[o] = s
	}
	// Interleave: take the next event of a random open order.
	open := make([]int, orders)
	for i := range open {
		open[i] = i
	}
	for len(open) > 0 {
		i := rng.Intn(len(open))
		o := open[i]
		out = append(out, streams[o][0])
		streams[o] = streams[o][1:]
		if len(streams[o]) == 0 {
			open[i] = open[len(open)-1]
			open = open[:len(open)-1]
		}
	}
	return out, shipped, cents, shippedOrders
}

// 100k events while nodes are killed with kill -9 during delivery. Two
// subscribers run on every node: a webhook (at least once) to a receiver
// in this test, and the demo's process manager (an order ships: its
// customer records the purchase, through a command on the user).
//
//   - Every event of both topics reaches the webhook at least once, each
//     delivery with the applied flag and version of the independent
//     checker's fold, and each entity's last delivery with its final state.
//     Deliveries repeated are counted and reported; each must have first
//     reached the receiver shortly before a kill (in flight, or done and
//     not yet committed, on the node that died).
//   - Every user's purchases equal an independent count of its shipped
//     orders: one applied PurchaseRecorded per shipped order, none twice.
func TestSubscribersUnderKill9(t *testing.T) {
	needKafka(t)
	seed := testSeed(t)
	app := uniqueApp("subs")
	const secret = "systemtest-webhook-secret-0123456789"
	recv := newReceiver(t, secret)
	secretFile := filepath.Join(t.TempDir(), "webhook-secret")
	if err := os.WriteFile(secretFile, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	extra := []string{"--subscribers", "all", "--webhook-url", recv.url, "--webhook-secret-file", secretFile,
		"--webhook-entities", "orders,users", "--webhook-concurrency", "16"}
	nodes := []*proc{newProc(t, app, "n1", extra...), newProc(t, app, "n2", extra...), newProc(t, app, "n3", extra...)}
	for _, n := range nodes {
		n.start(t)
	}
	waitReady(t, 90*time.Second, nodes...)

	events, shipped, cents, shippedOrders := shopData(seed, 2000, 19500)
	acks := newAcks(t)
	rng := rand.New(rand.NewSource(seed))
	var kills, restarts []time.Time
	next := 15_000 + rng.Intn(10_000)
	restartAt := map[*proc]int{}
	start := time.Now()
	produceEvents(t, app, acks, events, 2000, func(end int) {
		for n, at := range restartAt {
			if end >= at {
				if err := n.launch(); err != nil {
					t.Fatalf("restart %s: %v", n.id, err)
				}
				delete(restartAt, n)
				restarts = append(restarts, time.Now())
				t.Logf("restarted %s after %d events", n.id, end)
			}
		}
		if end >= next && len(kills) < 4 {
			victim := nodes[rng.Intn(len(nodes))]
			if victim.running() {
				victim.kill9()
				kills = append(kills, time.Now())
				t.Logf("kill -9 %s after %d events", victim.id, end)
				restartAt[victim] = end + 4000 + rng.Intn(8000)
				next = end + 15_000 + rng.Intn(10_000)
			}
		}
		// Let delivery keep up with producing, so kills hit deliveries in
		// flight rather than a backlog.
		time.Sleep(100 * time.Millisecond)
	})
	for n := range restartAt {
		if err := n.launch(); err != nil {
			t.Fatalf("restart %s: %v", n.id, err)
		}
	}
	produced := time.Since(start)
	waitReady(t, 2*time.Minute, nodes...)

	// The process manager: every shipped order recorded once on its customer.
	usersTopic := app + "-users-events"
	var perOrder map[string][]purchase
	var lastErr error
	deadline := time.Now().Add(5 * time.Minute)
	var fold *checker.Fold
	for {
		var err error
		fold, err = checker.Load(ctxFor(t, 5*time.Minute), brokers, eventTopics(app))
		if err != nil {
			t.Fatal(err)
		}
		recs, err := checker.ReadTopic(ctxFor(t, 5*time.Minute), brokers, usersTopic)
		if err != nil {
			t.Fatal(err)
		}
		applied := map[string]bool{} // "partition/offset"
		for _, u := range fold.Entities["users"] {
			for _, e := range u.Events {
				applied[fmt.Sprintf("%d/%d", e.Partition, e.Offset)] = e.Applied
			}
		}
		perOrder = map[string][]purchase{}
		for _, r := range recs {
			var ev struct {
				Type    string `json:"type"`
				OrderID string `json:"order_id"`
			}
			if json.Unmarshal(r.Value, &ev) != nil || ev.Type != "PurchaseRecorded" {
				continue
			}
			perOrder[ev.OrderID] = append(perOrder[ev.OrderID], purchase{applied[fmt.Sprintf("%d/%d", r.Partition, r.Offset)], r.Key})
		}
		lastErr = checkPurchases(perOrder, shippedOrders, fold, shipped, cents)
		if lastErr == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(2 * time.Second) // polling: the process manager may still be at work
	}
	if lastErr != nil {
		t.Errorf("process manager: %v", lastErr)
	}
	extraAppends := 0
	for _, ps := range perOrder {
		extraAppends += len(ps) - 1
	}

	// The webhook: every event of both topics, with the fold's outcome.
	// A repeat is a retry (attempt > 1: the receiver's answer did not reach
	// the node in time) or a redelivery (attempt 1 again: another node,
	// after a kill or a rebalance).
	var missing, wrong, repeated, retried, repeatedLate int
	deadline = time.Now().Add(5 * time.Minute)
	for {
		got, _, _ := recv.snapshot()
		missing, wrong, repeated, retried, repeatedLate = 0, 0, 0, 0, 0
		for typ, ents := range fold.Entities {
			for _, en := range ents {
				for i, e := range en.Events {
					id := fmt.Sprintf("%s-%s-events/%d/%d", app, typ, e.Partition, e.Offset)
					ds := got[id]
					if len(ds) == 0 {
						missing++
						continue
					}
					for _, d := range ds {
						if d.Applied != e.Applied || d.Version != e.Version || d.ID != en.ID {
							if wrong++; wrong <= 5 {
								t.Logf("%s: delivered applied %v version %d, the fold says %v %d", id, d.Applied, d.Version, e.Applied, e.Version)
							}
						}
					}
					if i == len(en.Events)-1 && !jsonEqual(ds[len(ds)-1].State, en.State) {
						if wrong++; wrong <= 5 {
							t.Logf("%s (last of %s/%s): state %s, the fold says %s", id, typ, en.ID, ds[len(ds)-1].State, en.State)
						}
					}
					for _, d := range ds[1:] {
						if d.Attempt > 1 {
							retried++
							continue
						}
						repeated++
						if !nearKill(ds[0].at, kills) {
							if repeatedLate++; repeatedLate <= 5 {
								t.Logf("%s delivered again at %s, first at %s; kills at %s, restarts at %s", id,
									d.at.Format("15:04:05.000"), ds[0].at.Format("15:04:05.000"), clock(kills), clock(restarts))
							}
						}
					}
				}
			}
		}
		if (missing == 0 && wrong == 0) || time.Now().After(deadline) {
			break
		}
		time.Sleep(2 * time.Second) // polling: the webhook may still be delivering
	}
	_, bad, posted := recv.snapshot()
	total := 0
	for _, ents := range fold.Entities {
		for _, en := range ents {
			total += len(en.Events)
		}
	}
	if missing > 0 || wrong > 0 || bad > 0 || repeatedLate > 0 {
		t.Errorf("webhook: %d events, %d missing, %d deliveries unlike the fold, %d bad signatures, %d delivered again of which %d not near a kill",
			total, missing, wrong, bad, repeated, repeatedLate)
	}
	_, rep := verify(t, app, acks, nodes, 3*time.Minute)
	result := fmt.Sprintf("webhook: %d events, %d POSTs, %d missing, %d unlike the fold, %d delivered again after a kill (all first delivered within 15 s before one: %v), %d retried; purchases: %d shipped orders, %d recorded twice, %d not recorded, %d users checked; %s",
		total, posted, missing, wrong, repeated, repeatedLate == 0, retried, len(shippedOrders), appliedTwice(perOrder), notRecorded(perOrder, shippedOrders), len(shipped), summary(rep))
	if lastErr != nil || missing > 0 || wrong > 0 || repeatedLate > 0 {
		result = "**FAILED** " + result
	}
	report(t, "| subscribers under kill -9 (seed %d) | %d events produced, 3 nodes, %d kills, webhook + process manager on every node, %d purchase appends retried and refused by the fold | produced in %.1fs, delivered after %.1fs | %s |",
		seed, len(events), len(kills), extraAppends, produced.Seconds(), time.Since(start).Seconds(), result)
	if len(kills) < 3 {
		t.Errorf("only %d kills happened", len(kills))
	}
}

func clock(ts []time.Time) string {
	var out []string
	for _, t := range ts {
		out = append(out, t.Format("15:04:05.000"))
	}
	return strings.Join(out, ", ")
}

// nearKill: a delivery repeated after a kill first reached the receiver
// shortly before it (in flight, or done but not yet committed).
func nearKill(at time.Time, kills []time.Time) bool {
	for _, k := range kills {
		if !at.After(k) && k.Sub(at) < 15*time.Second {
			return true
		}
	}
	return false
}

// checkPurchases compares the purchases in the users topic with the
// shipped orders: exactly one applied PurchaseRecorded per shipped order,
// on its customer, none for another order; and each user's folded state
// counts them.
// purchase is a PurchaseRecorded in the users topic: on which user, and
// whether the fold applied it.
type purchase struct {
	applied bool
	user    string
}

func checkPurchases(perOrder map[string][]purchase, shippedOrders map[string]string, fold *checker.Fold, shipped map[string]int, cents map[string]int64) error {
	for id, user := range shippedOrders {
		n := 0
		for _, p := range perOrder[id] {
			if p.applied {
				n++
				if p.user != user {
					return fmt.Errorf("order %s recorded on %s, its customer is %s", id, p.user, user)
				}
			}
		}
		if n != 1 {
			return fmt.Errorf("order %s recorded %d times (applied)", id, n)
		}
	}
	for id := range perOrder {
		if _, ok := shippedOrders[id]; !ok {
			return fmt.Errorf("order %s recorded but never shipped", id)
		}
	}
	for user, want := range shipped {
		u := fold.Entities["users"][user]
		var st struct {
			Purchases     int   `json:"purchases"`
			LifetimeCents int64 `json:"lifetime_cents"`
		}
		if u == nil || json.Unmarshal(u.State, &st) != nil {
			return fmt.Errorf("user %s missing from the fold", user)
		}
		if st.Purchases != want || st.LifetimeCents != cents[user] {
			return fmt.Errorf("user %s: %d purchases, %d cents; %d shipped orders for %d cents", user, st.Purchases, st.LifetimeCents, want, cents[user])
		}
	}
	return nil
}

// appliedTwice counts the orders recorded (applied) more than once.
func appliedTwice(perOrder map[string][]purchase) int {
	n := 0
	for _, ps := range perOrder {
		applied := 0
		for _, p := range ps {
			if p.applied {
				applied++
			}
		}
		if applied > 1 {
			n++
		}
	}
	return n
}

// notRecorded counts the shipped orders without a purchase.
func notRecorded(perOrder map[string][]purchase, shipped map[string]string) int {
	n := 0
	for id := range shipped {
		if len(perOrder[id]) == 0 {
			n++
		}
	}
	return n
}
