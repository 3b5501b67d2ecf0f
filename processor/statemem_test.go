package processor_test

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventfold/eventfold/eventfoldtest"
	"github.com/eventfold/eventfold/kafka"
)

// heapPeak runs fn and returns how far HeapInuse rose above its level
// before fn, sampled every 2 ms. The collector runs often meanwhile
// (GOGC 10), so the figure follows the live heap rather than GC pacing.
func heapPeak(fn func()) int64 {
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
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
	fn()
	close(stop)
	<-done
	return int64(peak.Load()) - int64(base)
}

// A point-in-time read folds the events of one leaf of the history index
// (up to K = 64). It fetched them all before folding, holding K events at
// once (40 events of 900 KB: ~36 MB); it now folds each as it arrives.
func TestStateAtFoldsEventsAsTheyAreFetched(t *testing.T) {
	const events, size = 40, 900_000
	k := eventfoldtest.NewKafka(t, 1)
	r := startProcessor(t, k.Brokers, t.TempDir())
	pad := strings.Repeat("p", size)
	recs := make([]kafka.Record, events)
	for i := range recs {
		recs[i] = kafka.Record{Topic: "counters-events", Key: "heavy", Value: []byte(fmt.Sprintf(`{"type":"Added","n":%d,"pad":"%s"}`, i, pad))}
	}
	produce(t, k.Brokers, recs)
	pad, recs = "", nil
	waitVersions(t, r.Processor, "counters", map[string]uint64{"heavy": events})

	ctx := eventfoldtest.Context(t, time.Minute)
	var sum int
	growth := heapPeak(func() {
		e, err := r.StateAt(ctx, "counters", "heavy", events, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		var st counter
		if err := jsonUnmarshal(e.State, &st); err != nil {
			t.Fatal(err)
		}
		sum = st.Sum
	})
	if want := events * (events - 1) / 2; sum != want {
		t.Fatalf("state at version %d: sum %d, want %d", events, sum, want)
	}
	// One event, one fetch, the decode, and the collector's slack (GOGC 10
	// of a ~80 MB heap); all 40 events at once are 36 MB by themselves.
	const bound = 20 << 20
	t.Logf("StateAt over %d events of %d KB: heap grew %d MB (bound %d MB)", events, size/1000, growth>>20, bound>>20)
	if growth > bound {
		t.Errorf("StateAt grew the heap by %d MB, bound %d MB", growth>>20, bound>>20)
	}
}
