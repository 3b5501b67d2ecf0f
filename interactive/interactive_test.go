package interactive_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventfold/eventfold"
	"github.com/eventfold/eventfold/codec"
	"github.com/eventfold/eventfold/entity"
	"github.com/eventfold/eventfold/eventfoldtest"
	"github.com/eventfold/eventfold/interactive"
	"github.com/eventfold/eventfold/kafka"
	"github.com/eventfold/eventfold/node"
)

// A register entity: each event sets the value; the version counts events.
type regEvent interface{ regEvent() }

type set struct {
	V string `json:"v"`
}

func (*set) regEvent() {}

type register struct {
	V string `json:"v"`
}

var regEvents = codec.NewUnion[regEvent]().MustRegister("Set", func() regEvent { return &set{} })

// Commands: Put sets the value; Put of "" is refused by the domain.
// PutMany sets each value in turn, one event each (a multi-event command).
type regCommand interface{ regCommand() }

type put struct {
	V string `json:"v"`
}

type putMany struct {
	Vs []string `json:"vs"`
}

func (*put) regCommand()     {}
func (*putMany) regCommand() {}

var regCommands = codec.NewUnion[regCommand]().
	MustRegister("Put", func() regCommand { return &put{} }).
	MustRegister("PutMany", func() regCommand { return &putMany{} })

var registers = entity.Entity[register, regEvent]{
	Name:   "registers",
	Events: regEvents,
	Evolve: func(_ register, e regEvent) (register, error) { return register{V: e.(*set).V}, nil },
	Commands: entity.Commands[register, regEvent, regCommand]{
		Codec: regCommands,
		Decide: func(_ register, c regCommand) ([]regEvent, error) {
			if m, ok := c.(*putMany); ok {
				var out []regEvent
				for _, v := range m.Vs {
					out = append(out, &set{V: v})
				}
				return out, nil
			}
			if c.(*put).V == "" {
				return nil, errors.New("empty value")
			}
			return []regEvent{&set{V: c.(*put).V}}, nil
		},
	},
}

func entities() []entity.Definition { return []entity.Definition{registers} }

func setEvent(v string) []byte {
	b, _ := regEvents.Encode(&set{V: v})
	return b
}

// load writes one Set event per key and waits until node n serves the last.
func load(t *testing.T, k *eventfoldtest.Kafka, keys int, value func(i int) string) {
	t.Helper()
	pr, err := kafka.NewProducer(k.Brokers, eventfoldtest.SaramaConfig(), kafka.FNV1a)
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	recs := make([]kafka.Record, keys)
	for i := range recs {
		recs[i] = kafka.Record{Topic: "registers-events", Key: fmt.Sprintf("r-%d", i), Value: setEvent(value(i))}
	}
	if _, err := pr.SendAll(eventfoldtest.Context(t, time.Minute), recs); err != nil {
		t.Fatal(err)
	}
}

func TestEveryEntityReadableFromEveryNode(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 2)
	c := eventfoldtest.StartNodes(t, k, 3, entities(), nil)
	const keys = 20_000
	load(t, k, keys, func(i int) string { return fmt.Sprint("value-", i) })

	nodes := c.Nodes()
	// Wait for the fold: the last key of every partition is visible.
	eventfoldtest.Eventually(t, 60*time.Second, func() error {
		for i := keys - 50; i < keys; i++ {
			if _, err := nodes[0].Client.Get(context.Background(), "registers", fmt.Sprintf("r-%d", i)); err != nil {
				return err
			}
		}
		return nil
	})

	var local, forwarded, wrong atomic.Int64
	localOn := make([]atomic.Int64, len(nodes)) // reads each node answered itself
	for ni, n := range nodes {
		work := make(chan int)
		var wg sync.WaitGroup
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range work {
					key := fmt.Sprintf("r-%d", i)
					a, err := n.Client.Get(context.Background(), "registers", key)
					if err != nil {
						t.Errorf("%s: %s: %v", n.ID(), key, err)
						wrong.Add(1)
						continue
					}
					if string(a.State) != fmt.Sprintf(`{"v":"value-%d"}`, i) || a.Version != 1 || a.ID != key {
						t.Errorf("%s: %s = %+v", n.ID(), key, a)
						wrong.Add(1)
					}
					owner := c.Owner("registers", key, kafka.FNV1a)
					if a.ServedBy != owner.ID() {
						t.Errorf("%s served by %s, owner is %s", key, a.ServedBy, owner.ID())
					}
					if a.ServedBy == n.ID() {
						local.Add(1)
						localOn[ni].Add(1)
					} else {
						forwarded.Add(1)
					}
				}
			}()
		}
		for i := 0; i < keys; i++ {
			work <- i
		}
		close(work)
		wg.Wait()
	}
	t.Logf("%d reads: %d local, %d forwarded, %d wrong", 3*keys, local.Load(), forwarded.Load(), wrong.Load())
	if local.Load()+forwarded.Load() != 3*keys || wrong.Load() != 0 {
		t.Fatalf("reads: %d local + %d forwarded, %d wrong", local.Load(), forwarded.Load(), wrong.Load())
	}
	// Each key is local on exactly one node, so the total says nothing
	// about balance; each node's share does. The range assignor gives 3
	// nodes 4 of the harness's 12 partitions each: every node answers about
	// a third of the keys itself, and none fewer than a sixth.
	for i, n := range nodes {
		if l := localOn[i].Load(); l < keys/6 || l > keys/2 {
			t.Errorf("%s answered %d of %d keys itself: ownership is lopsided", n.ID(), l, keys)
		}
	}
}

func TestErrorsAndStatusCodes(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	c := eventfoldtest.StartNodes(t, k, 2, entities(), func(cfg *node.Config) {
		cfg.Token = "s3cret"
		cfg.ClusterSecret = []byte("the cluster's own secret")
	})
	load(t, k, 100, func(i int) string { return "x" })
	nodes := c.Nodes()
	authed := interactive.NewClient(nodes[0].URL(), "s3cret")
	eventfoldtest.Eventually(t, 30*time.Second, func() error {
		for i := 0; i < 100; i++ {
			if _, err := authed.Get(context.Background(), "registers", fmt.Sprintf("r-%d", i)); err != nil {
				return err
			}
		}
		return nil
	})
	// A key the first node does not own, to send a pre-forwarded request to it.
	var foreign string
	for i := 0; i < 100; i++ {
		if c.Owner("registers", fmt.Sprintf("r-%d", i), kafka.FNV1a) != nodes[0] {
			foreign = fmt.Sprintf("r-%d", i)
			break
		}
	}
	base := nodes[0].URL()
	for _, tc := range []struct {
		name, method, path, body string
		hdr                      map[string]string
		status                   int
		code                     string
	}{
		{"found", "GET", "/v1/registers/r-1", "", nil, 200, ""},
		{"unknown id", "GET", "/v1/registers/nobody", "", nil, 404, interactive.CodeNotFound},
		{"unknown entity", "GET", "/v1/widgets/r-1", "", nil, 404, interactive.CodeNotFound},
		{"no token", "GET", "/v1/registers/r-1", "", map[string]string{"Authorization": ""}, 401, interactive.CodeUnauthorized},
		{"wrong token", "GET", "/v1/registers/r-1", "", map[string]string{"Authorization": "Bearer nope"}, 401, interactive.CodeUnauthorized},
		{"append", "POST", "/v1/registers/r-1/events", `{"type":"Set","v":"y"}`, nil, 202, ""},
		{"append bad json", "POST", "/v1/registers/r-1/events", `{"type":`, nil, 400, interactive.CodeInvalid},
		{"append unknown type", "POST", "/v1/registers/r-1/events", `{"type":"Unset"}`, nil, 400, interactive.CodeInvalid},
		{"append too large", "POST", "/v1/registers/r-1/events", `{"type":"Set","v":"` + strings.Repeat("x", 2<<20) + `"}`, nil, 413, interactive.CodeTooLarge},
		{"append as a form", "POST", "/v1/registers/r-1/events", `{"type":"Set","v":"y"}`, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 415, interactive.CodeUnsupportedMediaType},
		{"append unknown entity", "POST", "/v1/widgets/r-1/events", `{"type":"Set"}`, nil, 404, interactive.CodeNotFound},
		{"id too long", "GET", "/v1/registers/" + strings.Repeat("k", 2000), "", nil, 400, interactive.CodeInvalid},
		{"forwarded to a non-owner", "GET", "/v1/registers/" + foreign, "", map[string]string{interactive.HeaderHop: "node-x"}, 421, interactive.CodeNotOwner},
		{"no route", "GET", "/v2/x", "", nil, 404, interactive.CodeNotFound},
		{"method", "DELETE", "/v1/registers/r-1", "", nil, 405, interactive.CodeInvalid},
		{"healthz needs no token", "GET", "/healthz", "", map[string]string{"Authorization": ""}, 200, ""},
		{"readyz", "GET", "/readyz", "", map[string]string{"Authorization": ""}, 200, ""},
		{"openapi", "GET", "/v1/openapi.yaml", "", nil, 200, ""},
		{"cluster", "GET", "/v1/cluster", "", nil, 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, base+tc.path, strings.NewReader(tc.body))
			req.Header.Set("Authorization", "Bearer s3cret")
			if tc.method == "POST" {
				req.Header.Set("Content-Type", "application/json")
			}
			for h, v := range tc.hdr {
				req.Header.Set(h, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct{ Code string }
			_ = jsonDecode(resp, &body)
			if resp.StatusCode != tc.status || body.Code != tc.code {
				t.Errorf("%s %s = %d %q, want %d %q", tc.method, tc.path, resp.StatusCode, body.Code, tc.status, tc.code)
			}
		})
	}

	// Error codes survive forwarding: not found on the owner is ErrNotFound here.
	cl := interactive.NewClient(base, "s3cret")
	if _, err := cl.Get(context.Background(), "registers", "nobody-"+foreign); !errors.Is(err, eventfold.ErrNotFound) {
		t.Errorf("Get(missing) = %v, want ErrNotFound", err)
	}
	// The append is read back (read-your-writes by polling).
	eventfoldtest.Eventually(t, 10*time.Second, func() error {
		a, err := cl.Get(context.Background(), "registers", "r-1")
		if err != nil || string(a.State) != `{"v":"y"}` || a.Version != 2 {
			return fmt.Errorf("r-1 = %+v, %v", a, err)
		}
		return nil
	})
}

// While a client reads in a loop from node A, node B leaves and node C
// joins: every answer is right, and every error is a documented 503 with
// Retry-After.
func TestReadsDuringRebalance(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 2)
	c := eventfoldtest.StartNodes(t, k, 2, entities(), nil)
	const keys = 2000
	load(t, k, keys, func(i int) string { return fmt.Sprint("v", i) })
	a, b := c.Nodes()[0], c.Nodes()[1]
	eventfoldtest.Eventually(t, 30*time.Second, func() error {
		for i := keys - 20; i < keys; i++ {
			if _, err := a.Client.Get(context.Background(), "registers", fmt.Sprintf("r-%d", i)); err != nil {
				return err
			}
		}
		return nil
	})

	var ok, wrong, unavailable, other atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
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
				i := rng.Intn(keys)
				resp, err := http.Get(fmt.Sprintf("%s/v1/registers/r-%d", a.URL(), i))
				if err != nil {
					other.Add(1)
					continue
				}
				var body struct {
					State struct{ V string }
					Code  string
				}
				_ = jsonDecode(resp, &body)
				switch {
				case resp.StatusCode == 200 && body.State.V == fmt.Sprint("v", i):
					ok.Add(1)
				case resp.StatusCode == 200:
					wrong.Add(1)
				case resp.StatusCode == 503 && resp.Header.Get("Retry-After") != "":
					unavailable.Add(1)
				default:
					t.Errorf("r-%d: HTTP %d %s", i, resp.StatusCode, body.Code)
					other.Add(1)
				}
			}
		}(int64(w))
	}
	waitOK := func(min int64) {
		eventfoldtest.Eventually(t, 30*time.Second, func() error {
			if ok.Load() < min {
				return fmt.Errorf("%d ok reads", ok.Load())
			}
			return nil
		})
	}
	waitOK(200)
	b.Stop(t)
	c.WaitRebalanced(60 * time.Second)
	waitOK(ok.Load() + 200)
	c.AddNode()
	c.WaitRebalanced(60 * time.Second)
	waitOK(ok.Load() + 200)
	close(stop)
	wg.Wait()
	t.Logf("reads during leave+join: %d ok, %d wrong, %d 503+Retry-After, %d other", ok.Load(), wrong.Load(), unavailable.Load(), other.Load())
	if wrong.Load() != 0 || other.Load() != 0 {
		t.Fatalf("%d wrong answers, %d undocumented errors", wrong.Load(), other.Load())
	}
}
