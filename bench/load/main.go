// Command load is the lookup load generator of `make bench`: closed-loop
// GET /v1/orders/{id} against running eventfold nodes, over HTTP on loopback.
//
// It reads each node's id and the partition owners from GET /v1/cluster,
// then for -duration (after a discarded -warmup) runs -concurrency workers,
// each sending one request at a time to the node the scenario picks:
//
//   - local: the node that owns the key's partition;
//   - forwarded: a node that does not own it (one forward);
//   - mixed: a random node (what a client without routing sees).
//
// It prints one JSON object: requests/s, latency quantiles, errors, 404s,
// and how many answers were served by the node asked vs another node
// (Eventfold-Served-By header).
//
//	go run ./bench/load -urls http://127.0.0.1:8080,http://127.0.0.1:8081 -scenario mixed
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/eventfold/eventfold/bench/gen"
	"github.com/eventfold/eventfold/kafka"
)

// Result is what load prints.
type Result struct {
	Scenario    string  `json:"scenario"`
	Nodes       int     `json:"nodes"`
	Concurrency int     `json:"concurrency"`
	Seconds     float64 `json:"seconds"`
	Requests    int     `json:"requests"` // answered 200 or 404
	NotFound    int     `json:"not_found"`
	Errors      int     `json:"errors"`
	FirstError  string  `json:"first_error,omitempty"`
	RPS         float64 `json:"rps"`
	P50         float64 `json:"p50_ms"`
	P90         float64 `json:"p90_ms"`
	P99         float64 `json:"p99_ms"`
	P999        float64 `json:"p999_ms"`
	Max         float64 `json:"max_ms"`
	ServedAsked int     `json:"served_asked"`
	ServedOther int     `json:"served_other"`
	Skipped     string  `json:"skipped,omitempty"`
}

type clusterInfo struct {
	Self     struct{ ID string } `json:"self"`
	Entities map[string]struct {
		Partitions int32             `json:"partitions"`
		Owners     map[string]string `json:"owners"`
	} `json:"entities"`
}

func main() {
	urls := flag.String("urls", "", "comma-separated node base URLs")
	scenario := flag.String("scenario", "mixed", "local, forwarded or mixed")
	entity := flag.String("entity", "orders", "entity type")
	entities := flag.Int("entities", 100_000, "ids order-000001 … order-N are queried")
	conc := flag.Int("concurrency", 8, "closed-loop workers")
	duration := flag.Duration("duration", 10*time.Second, "measured time")
	warmup := flag.Duration("warmup", time.Second, "discarded warm-up")
	seed := flag.Uint64("seed", 1, "key choice seed")
	flag.Parse()
	res, err := run(strings.Split(*urls, ","), *scenario, *entity, *entities, *conc, *duration, *warmup, *seed)
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
	_ = json.NewEncoder(os.Stdout).Encode(res)
}

type target struct {
	id    string
	owner []int // per partition: index of the owning node, -1 if none
}

func run(urls []string, scenario, entity string, entities, conc int, duration, warmup time.Duration, seed uint64) (*Result, error) {
	if len(urls) == 0 || urls[0] == "" {
		return nil, errors.New("no -urls")
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		Proxy: nil, MaxIdleConnsPerHost: 2 * conc, DisableCompression: true, IdleConnTimeout: time.Minute,
	}}
	ids := make([]string, len(urls))
	var parts int32
	owners := map[int32]string{}
	for i, u := range urls {
		var ci clusterInfo
		if err := getJSON(client, u+"/v1/cluster", &ci); err != nil {
			return nil, err
		}
		ids[i] = ci.Self.ID
		l := ci.Entities[entity]
		if i == 0 {
			parts = l.Partitions
			for p, m := range l.Owners {
				var n int32
				fmt.Sscan(p, &n)
				owners[n] = m
			}
		}
	}
	if parts == 0 {
		return nil, fmt.Errorf("%s: entity %s has no partitions yet", urls[0], entity)
	}
	owner := make([]int, parts) // partition -> index in urls
	for p := range owner {
		owner[p] = slices.Index(ids, owners[int32(p)])
		if owner[p] < 0 {
			return nil, fmt.Errorf("partition %d is owned by %q, not one of the nodes given (%v)", p, owners[int32(p)], ids)
		}
	}
	res := &Result{Scenario: scenario, Nodes: len(urls), Concurrency: conc}
	if scenario == "forwarded" && len(urls) < 2 {
		res.Skipped = "one node owns every key"
		return res, nil
	}
	if scenario != "local" && scenario != "forwarded" && scenario != "mixed" {
		return nil, fmt.Errorf("unknown scenario %q", scenario)
	}
	pick := func(r *rand.Rand) (node int, key string) {
		key = gen.ID(r.IntN(entities))
		own := owner[kafka.FNV1a.Partition(key, parts)]
		switch scenario {
		case "local":
			return own, key
		case "forwarded":
			n := r.IntN(len(urls) - 1)
			if n >= own {
				n++
			}
			return n, key
		}
		return r.IntN(len(urls)), key
	}

	type worker struct {
		lat                      []time.Duration
		notFound, errs           int
		firstErr                 error
		servedAsked, servedOther int
	}
	phase := func(d time.Duration, s uint64) []*worker {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		ws := make([]*worker, conc)
		var wg sync.WaitGroup
		for i := range ws {
			w := &worker{lat: make([]time.Duration, 0, 1<<16)}
			ws[i] = w
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewPCG(s, uint64(i)))
				for ctx.Err() == nil {
					n, key := pick(r)
					t0 := time.Now()
					resp, err := client.Get(urls[n] + "/v1/" + entity + "/" + key)
					if err == nil {
						_, err = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
					lat := time.Since(t0)
					if ctx.Err() != nil {
						return // cut off by the end of the phase
					}
					switch {
					case err != nil:
					case resp.StatusCode == http.StatusOK, resp.StatusCode == http.StatusNotFound:
						if resp.StatusCode == http.StatusNotFound {
							w.notFound++
						}
						switch sb := resp.Header.Get("Eventfold-Served-By"); sb {
						case "": // 404s do not say
						case ids[n]:
							w.servedAsked++
						default:
							w.servedOther++
						}
						w.lat = append(w.lat, lat)
						continue
					default:
						err = fmt.Errorf("GET %s: %s", key, resp.Status)
					}
					w.errs++
					if w.firstErr == nil {
						w.firstErr = err
					}
				}
			}()
		}
		wg.Wait()
		return ws
	}
	if warmup > 0 {
		phase(warmup, seed<<1)
	}
	start := time.Now()
	ws := phase(duration, seed<<1|1)
	res.Seconds = time.Since(start).Seconds()
	var lat []time.Duration
	for _, w := range ws {
		lat = append(lat, w.lat...)
		res.NotFound += w.notFound
		res.Errors += w.errs
		res.ServedAsked += w.servedAsked
		res.ServedOther += w.servedOther
		if w.firstErr != nil && res.FirstError == "" {
			res.FirstError = w.firstErr.Error()
		}
	}
	slices.Sort(lat)
	res.Requests = len(lat)
	res.RPS = float64(len(lat)) / res.Seconds
	q := func(f float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		i := int(f*float64(len(lat))+0.999999) - 1
		return float64(lat[min(max(i, 0), len(lat)-1)]) / 1e6
	}
	res.P50, res.P90, res.P99, res.P999, res.Max = q(0.5), q(0.9), q(0.99), q(0.999), q(1)
	return res, nil
}

func getJSON(c *http.Client, url string, v any) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("GET %s: %s %s", url, resp.Status, b)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
