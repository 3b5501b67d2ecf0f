package processor_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventfold/eventfold/entity"
	"github.com/eventfold/eventfold/eventfoldtest"
	"github.com/eventfold/eventfold/limits"
	"github.com/eventfold/eventfold/processor"
)

// BenchmarkCommands measures Execute (decide, produce with acks=all, wait
// for the own fold) on an in-process broker, with 8 concurrent clients on
// one hot key or on many keys:
//
//	go test -run '^$' -bench Commands -benchtime 2000x ./processor
func BenchmarkCommands(b *testing.B) {
	k := eventfoldtest.NewKafka(b, 1)
	p := startEntities(b, k.Brokers, b.TempDir(), []entity.Definition{commandedCounter}, processor.WithPartitions(4))
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		keys int
	}{{"hot_key", 1}, {"many_keys", 1000}} {
		b.Run(tc.name, func(b *testing.B) {
			const clients = 8
			lat := make([]time.Duration, b.N)
			var wg sync.WaitGroup
			var mu sync.Mutex
			next := 0
			start := time.Now()
			for c := 0; c < clients; c++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						mu.Lock()
						i := next
						next++
						mu.Unlock()
						if i >= b.N {
							return
						}
						key := fmt.Sprint(tc.name, "-", i%tc.keys)
						t0 := time.Now()
						if _, err := p.Execute(ctx, "counters", key, []byte(`{"type":"Add","n":1}`), entity.CommandOptions{}); err != nil {
							b.Error(err)
							return
						}
						lat[i] = time.Since(t0)
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "commands/s")
			report(b, lat)
		})
	}
}

// BenchmarkCommandBesideALargeCommand shows that a command of the maximum
// number of events (100 notes of 2 KB on a growing state) does not hold up
// a one-event command on another key of the same partition: each iteration
// runs both at once and reports the small command's latency and the large
// one's duration.
//
//	go test -run '^$' -bench CommandBesideALargeCommand -benchtime 30x ./processor
func BenchmarkCommandBesideALargeCommand(b *testing.B) {
	k := eventfoldtest.NewKafka(b, 1)
	p := startEntities(b, k.Brokers, b.TempDir(), []entity.Definition{notesEntity}, processor.WithPartitions(1))
	ctx := context.Background()
	texts := make([]string, limits.EventsPerCommand)
	for i := range texts {
		texts[i] = fmt.Sprintf("%03d-%s", i, strings.Repeat("n", 2000))
	}
	large := []byte(`{"type":"NoteMany","texts":["` + strings.Join(texts, `","`) + `"]}`)
	small := []byte(`{"type":"NoteMany","texts":["one"]}`)
	smallLat := make([]time.Duration, b.N)
	largeLat := make([]time.Duration, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			if _, err := p.Execute(ctx, "notes", fmt.Sprint("large-", i), large, entity.CommandOptions{}); err != nil {
				b.Error(err)
			}
			largeLat[i] = time.Since(t0)
		}()
		t0 := time.Now()
		if _, err := p.Execute(ctx, "notes", fmt.Sprint("small-", i), small, entity.CommandOptions{}); err != nil {
			b.Fatal(err)
		}
		smallLat[i] = time.Since(t0)
		wg.Wait()
	}
	b.StopTimer()
	b.ReportMetric(quantileMs(smallLat, 0.5), "small-p50-ms")
	b.ReportMetric(quantileMs(smallLat, 0.99), "small-p99-ms")
	b.ReportMetric(quantileMs(largeLat, 0.5), "large-p50-ms")
	b.ReportMetric(quantileMs(largeLat, 0.99), "large-p99-ms")
}
