package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/eventfold/eventfold/interactive"
)

// Scenario names, as accepted by -scenarios.
const (
	scGet       = "get"
	scLocal     = "local"
	scForwarded = "forwarded"
	scMixed     = "mixed"
)

var allScenarios = []string{scGet, scLocal, scForwarded, scMixed}

// scenarioLabel is the table row label of a scenario.
var scenarioLabel = map[string]string{
	scGet:       "in-process Processor.Get (no HTTP)",
	scLocal:     "local (owner asked)",
	scForwarded: "forwarded (non-owner asked)",
	scMixed:     "mixed (random node)",
}

// Stats is one scenario's measurement.
type Stats struct {
	Scenario string
	Skipped  string // why the scenario did not run, if it did not
	Elapsed  time.Duration
	Lat      []time.Duration // successful requests, sorted
	Errors   int
	FirstErr error
	// Served-By (HTTP scenarios): answered by the node asked, by another
	// node, and by a node other than the key's owner.
	ServedAsked, ServedOther, WrongOwner int
	// OwnershipChanges is how often the ownership maps changed meanwhile.
	OwnershipChanges int64
	// CPU is the process's CPU time (all nodes, kfake and the load
	// generator) during the measurement; 0 where unsupported. OtherCPU is
	// the CPU time other processes on the machine used meanwhile (-1 if
	// unknown): on a shared machine, the main source of noise.
	CPU, OtherCPU time.Duration
	// SchedP99 is the p99 of the Go scheduler's latency (runnable to
	// running) during the measurement; GCs the GC cycles.
	SchedP99 time.Duration
	GCs      uint64
}

// Requests is the number of successful requests.
func (s *Stats) Requests() int { return len(s.Lat) }

// Rate is successful requests per second.
func (s *Stats) Rate() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(len(s.Lat)) / s.Elapsed.Seconds()
}

// Quantile is the nearest-rank q-quantile of the latencies.
func (s *Stats) Quantile(q float64) time.Duration {
	n := len(s.Lat)
	if n == 0 {
		return 0
	}
	i := int(q*float64(n)+0.999999999) - 1
	return s.Lat[min(max(i, 0), n-1)]
}

// Max is the slowest successful request.
func (s *Stats) Max() time.Duration {
	if len(s.Lat) == 0 {
		return 0
	}
	return s.Lat[len(s.Lat)-1]
}

// ForwardedShare is the share of HTTP answers served by another node than
// the one asked.
func (s *Stats) ForwardedShare() float64 {
	if t := s.ServedAsked + s.ServedOther; t > 0 {
		return float64(s.ServedOther) / float64(t)
	}
	return 0
}

// measurer runs scenarios against a loaded cluster.
type measurer struct {
	cfg    Config
	c      *cluster
	ds     *dataset
	client *http.Client
	urls   []string // node base URLs
	ids    []string // node ids
}

func newMeasurer(cfg Config, c *cluster, ds *dataset) *measurer {
	m := &measurer{cfg: cfg, c: c, ds: ds}
	m.client = &http.Client{Transport: &http.Transport{
		Proxy:               nil,
		MaxIdleConns:        0, // no global limit
		MaxIdleConnsPerHost: 2 * cfg.Concurrency,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}}
	for _, n := range c.nodes {
		m.urls = append(m.urls, n.URL())
		m.ids = append(m.ids, n.ID())
	}
	return m
}

func (m *measurer) close() { m.client.CloseIdleConnections() }

// workerResult is what one load goroutine saw.
type workerResult struct {
	lat                              []time.Duration
	errors                           int
	firstErr                         error
	servedAsked, servedOther, wrongO int
}

// pick chooses the node to ask and the target for one request.
type pick func(r *rand.Rand) (node, target int)

// picker returns the scenario's choice of (node, target), or why it cannot
// run on this cluster.
func (m *measurer) picker(sc string) (pick, string) {
	var askable []int // nodes that have keys for the scenario
	switch sc {
	case scGet, scLocal:
		for i, o := range m.ds.owned {
			if len(o) > 0 {
				askable = append(askable, i)
			}
		}
		return func(r *rand.Rand) (int, int) {
			n := askable[r.IntN(len(askable))]
			return n, m.ds.owned[n][r.IntN(len(m.ds.owned[n]))]
		}, ""
	case scForwarded:
		for i, o := range m.ds.notOwned {
			if len(o) > 0 {
				askable = append(askable, i)
			}
		}
		if len(askable) == 0 {
			return nil, "every key is owned by the only node"
		}
		return func(r *rand.Rand) (int, int) {
			n := askable[r.IntN(len(askable))]
			return n, m.ds.notOwned[n][r.IntN(len(m.ds.notOwned[n]))]
		}, ""
	case scMixed:
		return func(r *rand.Rand) (int, int) {
			return r.IntN(len(m.urls)), r.IntN(len(m.ds.targets))
		}, ""
	}
	return nil, fmt.Sprintf("unknown scenario %q", sc)
}

// run measures scenario sc: a warm-up (discarded), then cfg.Duration of
// cfg.Concurrency closed-loop workers. round seeds the workers' choices.
func (m *measurer) run(ctx context.Context, sc string, round int) (*Stats, error) {
	st := &Stats{Scenario: sc}
	pk, why := m.picker(sc)
	if pk == nil {
		st.Skipped = why
		return st, nil
	}
	if m.cfg.Warmup > 0 {
		m.phase(ctx, sc, pk, m.cfg.Warmup, uint64(round)<<32|1)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	changes := m.c.ownershipChanges()
	before := takeSample()
	start := time.Now()
	res := m.phase(ctx, sc, pk, m.cfg.Duration, uint64(round)<<32|2)
	st.Elapsed = time.Since(start)
	u := before.until(takeSample())
	st.CPU, st.OtherCPU, st.SchedP99, st.GCs = u.procCPU, u.otherCPU, u.schedP99, u.gcs
	st.OwnershipChanges = m.c.ownershipChanges() - changes
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	n := 0
	for _, r := range res {
		n += len(r.lat)
	}
	st.Lat = make([]time.Duration, 0, n)
	for _, r := range res {
		st.Lat = append(st.Lat, r.lat...)
		st.Errors += r.errors
		if st.FirstErr == nil {
			st.FirstErr = r.firstErr
		}
		st.ServedAsked += r.servedAsked
		st.ServedOther += r.servedOther
		st.WrongOwner += r.wrongO
	}
	slices.Sort(st.Lat)
	return st, nil
}

// phase runs the workers for d.
func (m *measurer) phase(ctx context.Context, sc string, pk pick, d time.Duration, seed uint64) []*workerResult {
	deadline := time.Now().Add(d)
	res := make([]*workerResult, m.cfg.Concurrency)
	var wg sync.WaitGroup
	for w := range res {
		r := &workerResult{lat: make([]time.Duration, 0, 1<<14)}
		res[w] = r
		rng := rand.New(rand.NewPCG(seed, uint64(w)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf bytes.Buffer
			for ctx.Err() == nil {
				n, t := pk(rng)
				var (
					lat time.Duration
					err error
				)
				if sc == scGet {
					lat, err = m.get(ctx, n, t)
				} else {
					lat, err = m.lookup(ctx, &buf, r, n, t)
				}
				if err != nil {
					r.errors++
					if r.firstErr == nil {
						r.firstErr = err
					}
				} else {
					r.lat = append(r.lat, lat)
				}
				if time.Now().After(deadline) {
					return
				}
			}
		}()
	}
	wg.Wait()
	return res
}

// get is the in-process baseline: the owner's table, no HTTP.
func (m *measurer) get(ctx context.Context, n, t int) (time.Duration, error) {
	tg := &m.ds.targets[t]
	start := time.Now()
	e, err := m.c.nodes[n].Processor().Get(ctx, tg.entity, tg.id)
	lat := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("Get %s %s on %s: %w", tg.entity, tg.id, m.ids[n], err)
	}
	if e.Key != tg.id || e.Version == 0 {
		return 0, fmt.Errorf("Get %s %s on %s: got %s version %d", tg.entity, tg.id, m.ids[n], e.Key, e.Version)
	}
	return lat, nil
}

// lookup is GET /v1/{entity}/{id} on node n, timed from building the
// request to the last byte of the body.
func (m *measurer) lookup(ctx context.Context, buf *bytes.Buffer, r *workerResult, n, t int) (time.Duration, error) {
	tg := &m.ds.targets[t]
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.urls[n]+tg.path, nil)
	if err != nil {
		return 0, err
	}
	resp, err := m.client.Do(req)
	if err != nil {
		return 0, err
	}
	buf.Reset()
	_, err = buf.ReadFrom(resp.Body)
	resp.Body.Close()
	lat := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("GET %s%s: reading body: %w", m.urls[n], tg.path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s%s: %s: %s", m.urls[n], tg.path, resp.Status, bytes.TrimSpace(buf.Bytes()))
	}
	if !bytes.Contains(buf.Bytes(), tg.needle) {
		return 0, fmt.Errorf("GET %s%s: body does not name the entity: %.200s", m.urls[n], tg.path, buf.Bytes())
	}
	served := resp.Header.Get(interactive.HeaderServedBy)
	switch served {
	case "":
		return 0, errors.New("GET " + m.urls[n] + tg.path + ": no " + interactive.HeaderServedBy + " header")
	case m.ids[n]:
		r.servedAsked++
	default:
		r.servedOther++
	}
	if served != m.ids[tg.owner] {
		r.wrongO++
	}
	return lat, nil
}
