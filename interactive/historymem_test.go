package interactive_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventfold/eventfold/eventfoldtest"
	"github.com/eventfold/eventfold/kafka"
	"github.com/eventfold/eventfold/limits"
	"github.com/eventfold/eventfold/node"
)

// payloadProbe decodes an event payload keeping only its length and the
// value's first bytes, so that the test's own readers hold no payloads.
type payloadProbe struct {
	n    int
	head string
}

func (p *payloadProbe) UnmarshalJSON(b []byte) error {
	p.n = len(b)
	i := strings.Index(string(b[:min(len(b), 64)]), `"v":"`)
	if i < 0 {
		return fmt.Errorf("payload %.64q has no value", b)
	}
	p.head = string(b[i+5 : min(len(b), i+5+8)])
	return nil
}

type streamedEvent struct {
	Offset  int64        `json:"offset"`
	Version uint64       `json:"version"`
	Payload payloadProbe `json:"payload"`
}

// streamHistoryPage reads one page of GET .../events token by token: the
// client holds one event at a time, whatever the page's size.
func streamHistoryPage(ctx context.Context, url string, each func(streamedEvent) error) (next *int64, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: status %d", url, resp.StatusCode)
	}
	dec := json.NewDecoder(resp.Body)
	delim := func(want json.Delim) error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		if tok != want {
			return fmt.Errorf("got %v, want %v", tok, want)
		}
		return nil
	}
	if err := delim('{'); err != nil {
		return nil, err
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		switch tok {
		case "events":
			if err := delim('['); err != nil {
				return nil, err
			}
			for dec.More() {
				var e streamedEvent
				if err := dec.Decode(&e); err != nil {
					return nil, err
				}
				if err := each(e); err != nil {
					return nil, err
				}
			}
			if err := delim(']'); err != nil {
				return nil, err
			}
		case "next":
			if err := dec.Decode(&next); err != nil {
				return nil, err
			}
		default:
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return nil, err
			}
		}
	}
	return next, delim('}')
}

// Eight clients read the whole history of an entity of 40 events of ~900 KB
// each (16 under the race detector) with ?limit=1000, all at once. Pages
// are bounded in bytes, fetched within the bound and encoded event by
// event, so the node's heap grows by about readers × (page bytes + one
// fetch), not by readers × the entity's history: with unbounded pages the
// same reads grew the heap by 570–680 MB (GOGC 10, as here; 774 MB at
// GOGC 100), with bounded pages by 42–49 MB (149 MB at GOGC 100).
func TestConcurrentFullHistoryReadsStayWithinPageBytes(t *testing.T) {
	const (
		size    = 900_000
		readers = 8
		key     = "big"
	)
	events := 40
	if raceEnabled {
		events = 16 // 4 pages of 4 events each still; a third of the bytes to move
	}
	setup := time.Now()
	k := eventfoldtest.NewKafka(t, 1)
	c := eventfoldtest.StartNodes(t, k, 1, entities(), nil)
	nd := c.Nodes()[0]

	// Straight to the events topic: one record each, as a producer would.
	pr, err := kafka.NewProducer(k.Brokers, eventfoldtest.SaramaConfig(), kafka.FNV1a)
	if err != nil {
		t.Fatal(err)
	}
	pad := strings.Repeat("x", size)
	recs := make([]kafka.Record, events)
	for i := range recs {
		recs[i] = kafka.Record{Topic: "registers-events", Key: key, Value: setEvent(fmt.Sprintf("%08d", i) + pad)}
	}
	if _, err := pr.SendAll(eventfoldtest.Context(t, time.Minute), recs); err != nil {
		t.Fatal(err)
	}
	pr.Close()
	pad, recs = "", nil
	ctx := eventfoldtest.Context(t, 3*time.Minute)
	eventfoldtest.Eventually(t, 60*time.Second, func() error {
		ans, err := nd.Client.Get(ctx, "registers", key)
		if err != nil || ans.Version != uint64(events) {
			return fmt.Errorf("version %d, %v", ans.Version, err)
		}
		return nil
	})

	t.Logf("%d events of %d KB folded in %v", events, size/1000, time.Since(setup).Round(time.Millisecond))

	// Collect often while measuring, so that HeapInuse follows the live
	// heap and not the collector's pacing (the baseline holds the broker's
	// copy of the topics, which would otherwise let garbage pile up).
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()

	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, readers)
	pages := make([]int, readers)
	for r := 0; r < readers; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			seen, after := 0, int64(-1)
			for {
				url := fmt.Sprintf("%s/v1/registers/%s/events?limit=%d", nd.ListenURL(), key, limits.HistoryPageEvents)
				if after >= 0 {
					url += fmt.Sprintf("&after=%d", after)
				}
				next, err := streamHistoryPage(ctx, url, func(e streamedEvent) error {
					if want := fmt.Sprintf("%08d", seen); e.Payload.head != want || e.Version != uint64(seen+1) || e.Payload.n < size {
						return fmt.Errorf("event %d: version %d, value %q…, %d bytes", seen, e.Version, e.Payload.head, e.Payload.n)
					}
					seen++
					return nil
				})
				if err != nil {
					errs <- fmt.Errorf("reader %d: %w", r, err)
					return
				}
				pages[r]++
				if next == nil {
					break
				}
				after = *next
			}
			if seen != events {
				errs <- fmt.Errorf("reader %d: %d events, want %d", r, seen, events)
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-sampled
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	growth := int64(peak.Load()) - int64(base)
	// Each reader holds at most one page (its payloads, ≤ HistoryPageBytes)
	// plus one fetch response (~1 MiB) plus the event being encoded and the
	// test client's one decoded event; twice that covers the rest.
	bound := int64(readers * (limits.HistoryPageBytes + 1<<20) * 2)
	t.Logf("%d readers × %d events of %d KB (%d pages each) in %v: heap in use %d MB -> peak %d MB, growth %d MB (bound %d MB)",
		readers, events, size/1000, pages[0], time.Since(start).Round(time.Millisecond), base>>20, peak.Load()>>20, growth>>20, bound>>20)
	if growth > bound {
		t.Errorf("heap grew by %d MB during the reads, bound %d MB", growth>>20, bound>>20)
	}
	if pages[0] < 2 {
		t.Errorf("the history came in %d page(s): pages are not bounded in bytes", pages[0])
	}
}

// node.Config.HistoryPageBytes (serve --history-page-bytes) bounds the
// pages the HTTP API serves.
func TestHistoryPageBytesFromNodeConfig(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	c := eventfoldtest.StartNodes(t, k, 1, entities(), func(cfg *node.Config) { cfg.HistoryPageBytes = 64 })
	nd := c.Nodes()[0]
	ctx := eventfoldtest.Context(t, time.Minute)
	for v := 1; v <= 7; v++ {
		if _, err := nd.Client.Append(ctx, "registers", "small", setEvent(fmt.Sprint("v", v))); err != nil {
			t.Fatal(err)
		}
	}
	eventfoldtest.Eventually(t, 20*time.Second, func() error {
		if ans, err := nd.Client.Get(ctx, "registers", "small"); err != nil || ans.Version != 7 {
			return fmt.Errorf("%+v %v", ans, err)
		}
		return nil
	})
	// Each payload is {"type":"Set","v":"vN"}, 25 bytes: two fit in 64.
	var sizes []int
	after := int64(-1)
	for {
		page, err := nd.Client.History(ctx, "registers", "small", after, limits.HistoryPageEvents)
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(page.Events))
		if page.Next == nil {
			break
		}
		after = *page.Next
	}
	if fmt.Sprint(sizes) != "[2 2 2 1]" {
		t.Errorf("page sizes %v, want [2 2 2 1]", sizes)
	}
}
