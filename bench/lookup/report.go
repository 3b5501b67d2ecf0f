package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Targets from the "Interactive queries" issue, on loopback.
const (
	targetLocalP99     = time.Millisecond
	targetForwardedP99 = 5 * time.Millisecond
)

// Report is the result of Run.
type Report struct {
	Config  Config
	Date    time.Time
	Machine string
	Go      string
	// Setup.
	Events, Loaded, Present int
	Owned                   []int // per node: entities it owns
	SettleTime              time.Duration
	LoadTime, FoldTime      time.Duration
	// Rounds[i][j] is round i of scenario Config.Scenarios[j].
	Rounds [][]*Stats
}

// machine describes the host.
func machine() string {
	s := fmt.Sprintf("%s/%s, %d CPUs (GOMAXPROCS %d)", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0))
	if m := cpuModel(); m != "" {
		s += ", " + m
	}
	return s
}

// cpuModel is the CPU's model name on Linux, or "".
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// row is one table line.
type row struct {
	scenario string
	skipped  string
	requests int
	rate     float64
	q        [5]time.Duration // p50, p90, p99, p99.9, max
	errors   int
	others   float64 // cores other processes kept busy meanwhile; -1 unknown
}

func rowOf(s *Stats) row {
	if s.Skipped != "" {
		return row{scenario: s.Scenario, skipped: s.Skipped}
	}
	others := -1.0
	if s.OtherCPU >= 0 && s.Elapsed > 0 {
		others = s.OtherCPU.Seconds() / s.Elapsed.Seconds()
	}
	return row{
		scenario: s.Scenario, requests: s.Requests(), rate: s.Rate(), errors: s.Errors, others: others,
		q: [5]time.Duration{s.Quantile(0.50), s.Quantile(0.90), s.Quantile(0.99), s.Quantile(0.999), s.Max()},
	}
}

// medianRow takes each column's median over the runs (errors: the sum).
func medianRow(rs []row) row {
	out := row{scenario: rs[0].scenario, skipped: rs[0].skipped}
	if out.skipped != "" {
		return out
	}
	ints := make([]int, len(rs))
	floats := make([]float64, len(rs))
	durs := make([]time.Duration, len(rs))
	others := make([]float64, len(rs))
	for i, r := range rs {
		ints[i], floats[i], others[i] = r.requests, r.rate, r.others
		out.errors += r.errors
	}
	out.requests, out.rate, out.others = median(ints), median(floats), median(others)
	for k := range out.q {
		for i, r := range rs {
			durs[i] = r.q[k]
		}
		out.q[k] = median(durs)
	}
	return out
}

// median is the middle value (the lower middle for an even count).
func median[T int | float64 | time.Duration](v []T) T {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}

// ms formats a latency in milliseconds.
func ms(d time.Duration) string { return fmt.Sprintf("%.3f", float64(d)/float64(time.Millisecond)) }

func writeTable(w io.Writer, rows []row) {
	fmt.Fprintln(w, "| scenario | requests | req/s | p50 | p90 | p99 | p999 | max | errors | other procs (cores) |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range rows {
		label := scenarioLabel[r.scenario]
		if r.skipped != "" {
			fmt.Fprintf(w, "| %s | – | – | – | – | – | – | – | skipped: %s | – |\n", label, r.skipped)
			continue
		}
		others := "?"
		if r.others >= 0 {
			others = fmt.Sprintf("%.2f", r.others)
		}
		fmt.Fprintf(w, "| %s | %d | %.0f | %s | %s | %s | %s | %s | %d | %s |\n",
			label, r.requests, r.rate, ms(r.q[0]), ms(r.q[1]), ms(r.q[2]), ms(r.q[3]), ms(r.q[4]), r.errors, others)
	}
}

// Summary is the table the report ends with: the only run, or each
// column's median over the runs.
func (r *Report) Summary() []row {
	out := make([]row, len(r.Config.Scenarios))
	for j := range r.Config.Scenarios {
		rs := make([]row, len(r.Rounds))
		for i := range r.Rounds {
			rs[i] = rowOf(r.Rounds[i][j])
		}
		out[j] = medianRow(rs)
	}
	return out
}

// WriteMarkdown prints the report.
func (r *Report) WriteMarkdown(w io.Writer) {
	cfg := r.Config
	fmt.Fprintf(w, "## eventfold lookup latency\n\n")
	fmt.Fprintf(w, "- date: %s\n", r.Date.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "- machine: %s\n", r.Machine)
	fmt.Fprintf(w, "- go: %s\n", r.Go)
	fmt.Fprintf(w, "- cluster: %d node(s) and %d kfake broker(s) in one process, loopback HTTP; %d partitions per entity type\n",
		cfg.Nodes, cfg.Brokers, cfg.Partitions)
	fmt.Fprintf(w, "- data: demo orders + users, %d entities written (%d events, seed %d), %d with state; entities owned per node: %s\n",
		r.Loaded, r.Events, cfg.Seed, r.Present, joinInts(r.Owned))
	fmt.Fprintf(w, "- setup: groups settled in %v, produced in %v, folded in another %v\n",
		r.SettleTime.Round(time.Millisecond), r.LoadTime.Round(time.Millisecond), r.FoldTime.Round(time.Millisecond))
	fmt.Fprintf(w, "- load: %d closed-loop workers, keep-alive client pool (%d idle conns per node); %v warm-up (discarded) + %v measured per scenario; %d run(s), scenarios interleaved\n",
		cfg.Concurrency, 2*cfg.Concurrency, cfg.Warmup, cfg.Duration, cfg.Runs)
	fmt.Fprintf(w, "- latencies in milliseconds, client side: from building the request to the last byte of the body\n")
	fmt.Fprintf(w, "- other procs: CPU cores that other processes on the machine kept busy during the measurement (/proc/stat); anything well above 0 means the numbers are disturbed\n\n")

	if len(r.Rounds) > 1 {
		for i, round := range r.Rounds {
			fmt.Fprintf(w, "### run %d\n\n", i+1)
			rows := make([]row, len(round))
			for j, s := range round {
				rows[j] = rowOf(s)
			}
			writeTable(w, rows)
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "### median of %d runs (each column separately; errors summed)\n\n", len(r.Rounds))
	}
	sum := r.Summary()
	writeTable(w, sum)
	fmt.Fprintln(w)

	fmt.Fprintf(w, "Checks and cost per scenario (all runs):\n\n")
	for j, sc := range cfg.Scenarios {
		var asked, other, wrong, errs, reqs int
		var changes int64
		var cpu, otherCPU, elapsed, sched time.Duration
		var gcs uint64
		var firstErr error
		skipped := ""
		for _, round := range r.Rounds {
			s := round[j]
			skipped = s.Skipped
			asked += s.ServedAsked
			other += s.ServedOther
			wrong += s.WrongOwner
			errs += s.Errors
			reqs += s.Requests()
			changes += s.OwnershipChanges
			cpu += s.CPU
			if s.OtherCPU < 0 || otherCPU < 0 {
				otherCPU = -1
			} else {
				otherCPU += s.OtherCPU
			}
			elapsed += s.Elapsed
			sched = max(sched, s.SchedP99)
			gcs += s.GCs
			if firstErr == nil {
				firstErr = s.FirstErr
			}
		}
		if skipped != "" {
			continue
		}
		line := fmt.Sprintf("- %s:", scenarioLabel[sc])
		if sc != scGet {
			share := 0.0
			if asked+other > 0 {
				share = 100 * float64(other) / float64(asked+other)
			}
			line += fmt.Sprintf(" served by the node asked %d, by another node %d (%.1f%% forwarded), by a non-owner %d;", asked, other, share, wrong)
		}
		if cpu > 0 && reqs > 0 {
			line += fmt.Sprintf(" this process: %.0f µs CPU/request, %.2f of %d cores busy;",
				float64(cpu)/float64(reqs)/1e3, cpu.Seconds()/elapsed.Seconds(), runtime.NumCPU())
		}
		if otherCPU >= 0 && elapsed > 0 {
			line += fmt.Sprintf(" other processes: %.2f cores busy;", otherCPU.Seconds()/elapsed.Seconds())
		}
		line += fmt.Sprintf(" Go scheduler latency p99 (worst run) %s ms; %d GC cycles; ownership map changes %d", ms(sched), gcs, changes)
		if firstErr != nil {
			line += fmt.Sprintf("; first error: %v", firstErr)
		}
		fmt.Fprintln(w, line)
	}
	fmt.Fprintln(w)

	for _, s := range sum {
		var target time.Duration
		switch s.scenario {
		case scLocal:
			target = targetLocalP99
		case scForwarded:
			target = targetForwardedP99
		default:
			continue
		}
		if s.skipped != "" {
			continue
		}
		verdict := "met"
		if s.q[2] >= target {
			verdict = "MISSED"
		}
		fmt.Fprintf(w, "Target %s p99 < %v: %s ms, %s.\n", s.scenario, target, ms(s.q[2]), verdict)
	}
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ", ")
}
