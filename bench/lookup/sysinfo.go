package main

import (
	"math"
	"os"
	"runtime/metrics"
	"strconv"
	"strings"
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
	s := sample{procCPU: cputime.Process(), machineBusy: machineBusy()}
	if ms[0].Value.Kind() == metrics.KindFloat64Histogram {
		h := ms[0].Value.Float64Histogram()
		s.sched = &metrics.Float64Histogram{Counts: append([]uint64(nil), h.Counts...), Buckets: h.Buckets}
	}
	if ms[1].Value.Kind() == metrics.KindUint64 {
		s.gcCycles = ms[1].Value.Uint64()
	}
	return s
}

// machineBusy is the non-idle CPU time of all CPUs since boot, from
// /proc/stat (Linux); 0 elsewhere.
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0
	}
	var busy uint64
	for i, v := range f[1:] {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0
		}
		// user nice system idle iowait irq softirq steal guest guest_nice;
		// guest time is already counted in user.
		if i == 3 || i == 4 || i >= 8 {
			continue
		}
		busy += n
	}
	const clockTick = 10 * time.Millisecond // USER_HZ is 100 on Linux
	return time.Duration(busy) * clockTick
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
