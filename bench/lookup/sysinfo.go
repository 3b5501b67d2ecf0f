package main

import (
	"math"
	"runtime/metrics"
	"time"

	"github.com/eventfold/eventfold/bench/internal/cputime"
)

// sample is what the benchmark reads around a measurement to explain its
// tails: CPU used by this process and by the whole machine, the Go
// scheduler's latency histogram and the GC cycle count.
type sample struct {
	procCPU     time.Duration
	machineBusy time.Duration // all CPUs, all processes; 0 if unknown
	sched       *metrics.Float64Histogram
	gcCycles    uint64
}

const (
	metricSched = "/sched/latencies:seconds"
	metricGC    = "/gc/cycles/total:gc-cycles"
)

func takeSample() sample {
	ms := []metrics.Sample{{Name: metricSched}, {Name: metricGC}}
	metrics.Read(ms)
	s := sample{procCPU: cputime.Process(), machineBusy: cputime.Machine()}
	if ms[0].Value.Kind() == metrics.KindFloat64Histogram {
		h := ms[0].Value.Float64Histogram()
		s.sched = &metrics.Float64Histogram{Counts: append([]uint64(nil), h.Counts...), Buckets: h.Buckets}
	}
	if ms[1].Value.Kind() == metrics.KindUint64 {
		s.gcCycles = ms[1].Value.Uint64()
	}
	return s
}

// usage is the difference of two samples.
type usage struct {
	procCPU  time.Duration
	otherCPU time.Duration // other processes; -1 if unknown
	schedP99 time.Duration // goroutine runnable-to-running latency
	gcs      uint64
}

func (a sample) until(b sample) usage {
	u := usage{procCPU: b.procCPU - a.procCPU, otherCPU: -1, gcs: b.gcCycles - a.gcCycles}
	if a.machineBusy > 0 && b.machineBusy > 0 {
		u.otherCPU = max(b.machineBusy-a.machineBusy-u.procCPU, 0)
	}
	if a.sched != nil && b.sched != nil && len(a.sched.Counts) == len(b.sched.Counts) {
		counts := make([]uint64, len(b.sched.Counts))
		for i := range counts {
			counts[i] = b.sched.Counts[i] - a.sched.Counts[i]
		}
		u.schedP99 = histQuantile(counts, b.sched.Buckets, 0.99)
	}
	return u
}

// histQuantile is the upper bound of the bucket holding the q-quantile.
func histQuantile(counts []uint64, buckets []float64, q float64) time.Duration {
	var total uint64
	for _, c := range counts {
		total += c
	}
	if total == 0 {
		return 0
	}
	want := uint64(math.Ceil(q * float64(total)))
	var cum uint64
	for i, c := range counts {
		cum += c
		if cum >= want {
			hi := buckets[i+1]
			if math.IsInf(hi, 1) {
				hi = buckets[i]
			}
			return time.Duration(hi * float64(time.Second))
		}
	}
	return 0
}
