package main

import (
	"fmt"
	"runtime"
	"strings"
	"time"
)

type report struct {
	Date      time.Time
	Machine   string
	Cfg       config
	Events    int
	Applied   int
	Exists    int
	Bytes     int64
	GenTime   time.Duration
	LoadTime  time.Duration
	ReadBack  time.Duration
	Folds     []foldResult
	Restores  []restoreResult
	Lookups   []lookupResult
	LookupErr string
	Settle3   time.Duration
	Profiles  []profileShares
	// Interrupted: the run was cut short; the report has what was measured.
	Interrupted bool
}

func (r *report) fold(key string) *foldResult {
	for i := range r.Folds {
		if r.Folds[i].Key == key && r.Folds[i].Err == "" {
			return &r.Folds[i]
		}
	}
	return nil
}

func (r *report) restore(key string) *restoreResult {
	for i := range r.Restores {
		if r.Restores[i].Key == key && r.Restores[i].Err == "" {
			return &r.Restores[i]
		}
	}
	return nil
}

func mib(b int64) string { return fmt.Sprintf("%d", (b+(1<<19))>>20) }

func ratio(a, b float64) string {
	if a <= 0 || b <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f", a/b)
}

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

func (r *report) markdown() string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	c := r.Cfg
	w("# eventfold benchmarks: side by side on one broker\n\n")
	if r.Interrupted {
		w("**Interrupted run: partial results.**\n\n")
	}
	w("Written by `%s` (bench/run.sh → bench/driver) on %s.\n\n", c.command, r.Date.UTC().Format("2006-01-02 15:04 MST"))
	w("- **Machine:** %s.\n", r.Machine)
	w("- **Kafka:** Apache Kafka 4.1.1, one node (KRaft, combined roles) on loopback, jars from Maven Central (deploy/kafka-local/kafka-local.sh). Every contender reads the same topic on the same broker in the same run, one after the other.\n")
	avg := float64(r.Bytes) / float64(max(r.Events, 1))
	w("- **Workload:** %d order events (demo/orders event types) over %d orders, JSON of %.0f bytes on average (100–300), %d (%.1f%%) invalid transitions that every fold skips; topic `%s` with %d partitions, keys hashed with FNV-1a. Generated in %.1f s; loaded with a sarama async producer (acks=all, snappy) in %.1f s: **%.0f events/s** (%.1f MB/s).\n",
		r.Events, c.entities, avg, r.Events-r.Applied, 100*float64(r.Events-r.Applied)/float64(max(r.Events, 1)), c.topic, c.partitions,
		r.GenTime.Seconds(), r.LoadTime.Seconds(), float64(r.Events)/r.LoadTime.Seconds(), float64(r.Bytes)/r.LoadTime.Seconds()/1e6)
	if r.ReadBack > 0 {
		w("- **Warm-up:** before the first contender the driver creates `__consumer_offsets` and reads the topic back once with a plain sarama consumer (%.1f s, %.0f events/s: the broker's fetch ceiling for one Go client here).\n",
			r.ReadBack.Seconds(), float64(r.Events)/r.ReadBack.Seconds())
	}
	w("\n## All contenders\n\n")
	goka, ks, ef := r.fold("goka"), r.fold("kstreams"), r.fold("eventfold")
	rate := func(f *foldResult) float64 {
		if f == nil {
			return 0
		}
		return f.Rate
	}
	w("| contender | fold events/s (best) | all runs | ÷ plain goka | ÷ Kafka Streams | wall s (launch → caught up) | CPU s | CPU µs/event | peak RSS MiB | broker CPU s | other CPU s | changelog records | restore records/s | restore s | launch → restored s |\n")
	w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, f := range r.Folds {
		if f.Err != "" {
			w("| %s | failed: %s | | | | | | | | | | | | | |\n", f.Label, f.Err)
			continue
		}
		rss := mib(f.PeakRSS)
		if f.Nodes > 1 {
			rss = fmt.Sprintf("%s (%s total)", mib(f.PeakRSS), mib(f.SumRSS))
		}
		rest := "— | — | —"
		if rr := r.restore(f.Key); rr != nil {
			rest = fmt.Sprintf("%.0f | %.2f (%d records) | %.2f", rr.Rate(), rr.Restore.Seconds(), rr.Records, rr.Launch.Seconds())
		}
		lag := ""
		if f.Lag != 0 {
			lag = fmt.Sprintf(" (lag %d after stop!)", f.Lag)
		}
		var runs []string
		for _, x := range f.Reps {
			runs = append(runs, fmt.Sprintf("%.0f", x))
		}
		w("| %s | **%.0f** | %s | %s | %s | %.1f | %.1f | %.1f | %s | %.1f | %.1f | %d%s | %s |\n", f.Label, f.Rate, strings.Join(runs, ", "), ratio(f.Rate, rate(goka)), ratio(f.Rate, rate(ks)),
			f.Wall.Seconds(), f.CPU.Seconds(), f.CPU.Seconds()*1e6/float64(max(r.Events, 1)), rss, f.BrokerCPU.Seconds(), f.OtherCPU.Seconds(), f.Changelog, lag, rest)
	}
	for _, rr := range r.Restores {
		if rr.Err != "" {
			w("\nRestore of %s failed: %s\n", rr.Label, rr.Err)
		}
	}
	w("\n**Ratios:** eventfold (1 node) / plain goka = **%s** (target ≥ 0.9), eventfold / Kafka Streams = **%s** (target ≥ 1)", ratio(rate(ef), rate(goka)), ratio(rate(ef), rate(ks)))
	if e2 := r.fold("eventfold-2"); e2 != nil {
		w("; 2 nodes / 1 node = %s", ratio(e2.Rate, rate(ef)))
	}
	if nh := r.fold("eventfold-nohistory"); nh != nil {
		w("; history off / plain goka = %s", ratio(nh.Rate, rate(goka)))
	}
	w(".\n")
	if efr, ksr := r.restore("eventfold"), r.restore("kstreams"); efr != nil && ksr != nil {
		w("Restore: eventfold / Kafka Streams = %s (records/s).\n", ratio(efr.Rate(), ksr.Rate()))
	}

	if len(r.Lookups) > 0 || r.LookupErr != "" {
		w("\n## Lookups: `GET /v1/orders/{id}` over HTTP on loopback (eventfold nodes of the restored application)\n\n")
		if r.LookupErr != "" {
			w("Lookup phase failed: %s\n\n", r.LookupErr)
		}
		w("| nodes | node asked | concurrency | req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | served by another node | node CPU µs/req | errors | 404 |\n")
		w("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, l := range r.Lookups {
			if l.Err != "" || l.Skipped != "" {
				w("| %d | %s | %d | %s%s | | | | | | | | | |\n", l.Nodes, l.Scenario, l.Concurrency, l.Err, l.Skipped)
				continue
			}
			w("| %d | %s | %d | %.0f | %.3f | %.3f | %.3f | %.3f | %.2f | %.0f%% | %.0f | %d | %d |\n", l.Nodes, scenarioName(l.Scenario), l.Concurrency,
				l.RPS, l.P50, l.P90, l.P99, l.P999, l.Max, 100*l.ForwardedShare(), l.NodeCPU.Seconds()*1e6/float64(max(l.Requests, 1)), l.Errors, l.NotFound)
		}
		if r.Settle3 > 0 {
			w("\nGoing from 1 to 3 nodes (two new nodes restore their partitions, the group rebalances) took %.1f s until all three were ready and agreed on the owners.\n", r.Settle3.Seconds())
		}
	}

	w("\n## Targets (goals, not gates)\n\n| target | measured | |\n|---|---|---|\n")
	if ef != nil && goka != nil {
		w("| fold throughput ≥ 0.9 × plain goka | %s × | %s |\n", ratio(ef.Rate, goka.Rate), met(ef.Rate >= 0.9*goka.Rate))
	}
	if ef != nil && ks != nil {
		w("| fold throughput ≥ 1 × Kafka Streams | %s × | %s |\n", ratio(ef.Rate, ks.Rate), met(ef.Rate >= ks.Rate))
	}
	if rr := r.restore("eventfold"); rr != nil {
		w("| restore ≥ 200k records/s | %.0f records/s | %s |\n", rr.Rate(), met(rr.Rate() >= 200_000))
	}
	for _, l := range r.Lookups {
		if l.Err != "" || l.Skipped != "" {
			continue
		}
		switch l.Scenario {
		case "local":
			w("| local lookup p99 < 1 ms (%d node(s), concurrency %d) | %.3f ms | %s |\n", l.Nodes, l.Concurrency, l.P99, met(l.P99 < 1))
		case "forwarded":
			w("| forwarded lookup p99 < 5 ms (%d nodes, concurrency %d) | %.3f ms | %s |\n", l.Nodes, l.Concurrency, l.P99, met(l.P99 < 5))
		}
	}

	if len(r.Profiles) > 0 {
		w("\n## Where the CPU goes (pprof, %d s of each Go contender's fold)\n\n", c.profileSeconds)
		w("Inclusive share of the process's CPU samples (categories overlap), and the µs per event that share is of the whole fold's CPU.\n\n")
		w("| category |")
		for _, p := range r.Profiles {
			w(" %s |", p.Label)
		}
		w("\n|---|")
		for range r.Profiles {
			w("---:|")
		}
		w("\n| fold events/s | ")
		for _, p := range r.Profiles {
			w("%.0f |", p.Rate)
		}
		w("\n| CPU sampled in %d s (of %d cores) | ", c.profileSeconds, runtime.NumCPU())
		for _, p := range r.Profiles {
			w("%.1f s (%.1f µs/event overall) |", p.Total, p.CPUPer)
		}
		w("\n| goka partition goroutines blocked handing a record to the producer (`producer.EmitWithHeaders`, mean of %d dumps) | ", 5)
		for _, p := range r.Profiles {
			if p.G.Samples == 0 {
				w("— |")
				continue
			}
			w("%.1f of %.0f |", p.G.InEmit, p.G.Partitions)
		}
		w("\n")
		for _, cat := range categories {
			any := false
			for _, p := range r.Profiles {
				if p.Shares[cat.name] >= 0.001 {
					any = true
				}
			}
			if !any {
				continue
			}
			w("| %s |", cat.name)
			for _, p := range r.Profiles {
				s := p.Shares[cat.name]
				w(" %.1f%% (%.1f µs) |", 100*s, s*p.CPUPer)
			}
			w("\n")
		}
		w("\nProfiles: %s/profiles/ (`go tool pprof -top FILE`).\n", c.work)
	}

	w("\n## How it was measured\n\n")
	w("- Each contender is its own process, started on a new consumer group at offset 0 and stopped (SIGTERM) once caught up. %s run %d times (after one pass over all contenders, each time on a new group); the table shows the best run and lists all: runs on 2 shared cores vary by ±10%%, and outside load only ever slows a run down. ", strings.Join(c.repeatSet, ", "), c.repeat)
	w("Columns other than \"all runs\" are from the best run. **fold events/s** = events handled between its first progress report and the moment it has handled all %d events (eventfold: applied all %d valid ones), so process start, group join and shutdown are excluded; **wall** includes them. Progress is each process's own counter, printed every 250 ms. CPU (user+sys) and peak RSS (VmHWM) are read from /proc/<pid> at that moment; broker CPU is the Kafka process's CPU over the same span; **other CPU** is what every other process on the machine used meanwhile (/proc/stat minus contender and broker: the driver, and anything outside the benchmark; more than a few seconds means the number was disturbed).\n", r.Events, r.Applied)
	w("- eventfold: `bench/eventfold` = package node (processor, ownership, HTTP API, metrics) with orders only, `eventfold serve`'s defaults: history index on, info logs to a file, dead letters for the invalid events, in-order commits, envelope dedupe. plain goka: `bench/goka`, the same fold (`orders.Events.Decode` + `orders.Evolve`) into a goka group table with a JSON codec, skipping invalid events, same sarama config (`kafka.NewConfig`). Kafka Streams: `bench/kstreams`, Processor API into a persistent (RocksDB) store with caching and changelog (the DSL defaults), at_least_once, %d stream threads, defaults otherwise (commit.interval.ms 30 s); its Java port of `orders.Evolve` is checked against Go byte for byte (`driver parity`) before every run.\n", c.ksThreads)
	w("- Restore: the contender's state directory is deleted and the process restarted with the same group; it restores its store from the changelog before it serves. eventfold and goka: records = the changelog topic's records, time = partitions assigned → all partitions recovered; Kafka Streams: its StateRestoreListener's totals, first onRestoreStart → last onRestoreEnd. **launch → restored** includes process start and group join.\n")
	w("- Lookups: `bench/load`, closed loop, keys uniform over all %d orders; *owner* = the node owning the key's partition (from `/v1/cluster`), *non-owner* = another node (one forward), *random* = any node. \"served by another node\" compares `Eventfold-Served-By` with the node asked. Node CPU is the eventfold processes' CPU during the measurement divided by requests.\n", c.entities)
	w("- Logs of every process: %s/logs/.\n", c.work)
	if ns := notes.all(); len(ns) > 0 {
		w("\n**Notes from the contenders:**\n\n")
		for _, n := range ns {
			w("- %s\n", n)
		}
	}
	return b.String()
}

func scenarioName(s string) string {
	switch s {
	case "local":
		return "owner"
	case "forwarded":
		return "non-owner (forwarded)"
	case "mixed":
		return "random"
	}
	return s
}
