package processor_test

import (
	"context"
	"math/rand"
	"slices"
	"testing"
	"time"

	"github.com/eventfold/eventfold/entity"
	"github.com/eventfold/eventfold/eventfoldtest"
	"github.com/eventfold/eventfold/kafka"
	"github.com/eventfold/eventfold/processor"
)

// BenchmarkTimeTravel measures history pages and point-in-time reads for
// entities with 10, 1k and 100k events (in-process broker, loopback):
//
//	go test -run '^$' -bench TimeTravel -benchtime 200x ./processor
func BenchmarkTimeTravel(b *testing.B) {
	k := eventfoldtest.NewKafka(b, 1)
	p := startEntities(b, k.Brokers, b.TempDir(), []entity.Definition{commandedCounter}, processor.WithPartitions(4))
	ctx := context.Background()
	sizes := map[string]int{"10": 10, "1k": 1_000, "100k": 100_000}
	var recs []kafka.Record
	for name, n := range sizes {
		for i := 0; i < n; i++ {
			recs = append(recs, kafka.Record{Topic: "counters-events", Key: "e" + name, Value: encodeAdded(b, i%100)})
		}
	}
	pr, err := kafka.NewProducer(k.Brokers, eventfoldtest.SaramaConfig(), kafka.FNV1a)
	if err != nil {
		b.Fatal(err)
	}
	pos, err := pr.SendAll(ctx, recs)
	pr.Close()
	if err != nil {
		b.Fatal(err)
	}
	last := map[string]int64{}
	for i, r := range recs {
		last[r.Key] = pos[i].Offset
	}
	for key, off := range last {
		wctx, wcancel := context.WithTimeout(ctx, 5*time.Minute)
		if err := p.WaitApplied(wctx, "counters", key, off); err != nil {
			b.Fatal(err)
		}
		wcancel()
	}
	for _, name := range []string{"10", "1k", "100k"} {
		n := sizes[name]
		key := "e" + name
		rng := rand.New(rand.NewSource(1))
		b.Run("state_at_version/"+name, func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			for i := 0; i < b.N; i++ {
				v := uint64(rng.Intn(n)) + 1
				t0 := time.Now()
				if _, err := p.StateAt(ctx, "counters", key, v, time.Time{}); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
			}
			report(b, lat)
		})
		b.Run("history_page_100/"+name, func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			for i := 0; i < b.N; i++ {
				after := int64(-1)
				if n > 100 {
					after = pos[0].Offset + int64(rng.Intn(n-100))
				}
				t0 := time.Now()
				if _, err := p.History(ctx, "counters", key, after, 100); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
			}
			report(b, lat)
		})
	}
}

func report(b *testing.B, lat []time.Duration) {
	b.ReportMetric(quantileMs(lat, 0.5), "p50_ms")
	b.ReportMetric(quantileMs(lat, 0.99), "p99_ms")
	b.ReportMetric(0, "ns/op")
}

// quantileMs sorts lat and returns its q-quantile in milliseconds.
func quantileMs(lat []time.Duration, q float64) float64 {
	slices.Sort(lat)
	return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) / 1000
}
