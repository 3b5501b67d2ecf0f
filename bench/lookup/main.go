// Command lookup measures the latency of eventfold's interactive queries
// (GET /v1/{entity}/{id}) on loopback, for the "Interactive queries" issue
// (targets: local lookup p99 < 1 ms, forwarded p99 < 5 ms).
//
// It starts an in-process kfake cluster and -nodes eventfold nodes (package
// node, no test harness), loads -entities demo entities, waits until every
// owner has folded them, then runs closed-loop load with -concurrency
// workers for -duration per scenario:
//
//   - get: Processor.Get on the owner, in process (the no-HTTP baseline);
//   - local: GET sent to the node that owns the key;
//   - forwarded: GET sent to a node that does not own it (one forward);
//   - mixed: GET sent to a random node (what a client without routing sees).
//
// It prints a markdown table (requests, req/s, p50, p90, p99, p99.9, max,
// errors) with the machine and date. See README.md.
//
//	go run ./bench/lookup
//	go run ./bench/lookup -runs 3 -duration 5s
//	go run ./bench/lookup -scenarios forwarded -cpuprofile fwd.pprof
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strings"
	"time"
)

// Config is one benchmark run.
type Config struct {
	Nodes           int
	Brokers         int
	Partitions      int
	Entities        int
	EventsPerEntity int
	Seed            int64
	Concurrency     int
	Duration        time.Duration
	Warmup          time.Duration
	Runs            int
	Scenarios       []string
	DataDir         string // default: a temporary directory, removed afterwards
	CPUProfile      string // file for a CPU profile of the measurement, if set
	Trace           string // file for an execution trace of the measurement, if set
	Logger          *slog.Logger
}

// DefaultConfig is the configuration of `go run ./bench/lookup`.
func DefaultConfig() Config {
	return Config{
		Nodes:           3,
		Brokers:         1,
		Partitions:      12,
		Entities:        20_000,
		EventsPerEntity: 3,
		Seed:            1,
		Concurrency:     8,
		Duration:        10 * time.Second,
		Warmup:          time.Second,
		Runs:            1,
		Scenarios:       slices.Clone(allScenarios),
	}
}

func (c Config) validate() error {
	switch {
	case c.Nodes < 1, c.Brokers < 1, c.Partitions < 1, c.Entities < 1, c.EventsPerEntity < 1, c.Concurrency < 1, c.Runs < 1:
		return errors.New("nodes, brokers, partitions, entities, events-per-entity, concurrency and runs must be positive")
	case c.Duration <= 0 || c.Warmup < 0:
		return errors.New("duration must be positive and warmup not negative")
	case len(c.Scenarios) == 0:
		return errors.New("no scenarios")
	}
	for _, s := range c.Scenarios {
		if !slices.Contains(allScenarios, s) {
			return fmt.Errorf("unknown scenario %q (want %s)", s, strings.Join(allScenarios, ","))
		}
	}
	return nil
}

// Run sets up the cluster, loads the data, measures every scenario
// cfg.Runs times (interleaved) and tears everything down. Progress lines go
// to progress (may be nil).
func Run(ctx context.Context, cfg Config, progress io.Writer) (rep *Report, err error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	logf := func(format string, a ...any) {
		if progress != nil {
			fmt.Fprintf(progress, "lookup: "+format+"\n", a...)
		}
	}
	rep = &Report{Config: cfg, Date: time.Now(), Machine: machine(), Go: runtime.Version()}

	start := time.Now()
	c, err := startCluster(ctx, cfg, logf)
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := c.close(); cerr != nil && err == nil {
			err = fmt.Errorf("shutting down: %w", cerr)
		}
	}()
	rep.SettleTime = time.Since(start)

	ds, err := c.load(ctx, cfg, logf)
	if err != nil {
		return nil, err
	}
	rep.Events, rep.Loaded, rep.Present = ds.events, ds.loaded, len(ds.targets)
	rep.LoadTime, rep.FoldTime = ds.loadTime, ds.foldTime
	for _, o := range ds.owned {
		rep.Owned = append(rep.Owned, len(o))
	}

	m := newMeasurer(cfg, c, ds)
	defer m.close()
	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, err
		}
		defer pprof.StopCPUProfile()
	}
	if cfg.Trace != "" {
		f, err := os.Create(cfg.Trace)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if err := trace.Start(f); err != nil {
			return nil, err
		}
		defer trace.Stop()
	}
	for round := 0; round < cfg.Runs; round++ {
		stats := make([]*Stats, len(cfg.Scenarios))
		for j, sc := range cfg.Scenarios {
			runtime.GC() // do not carry the previous scenario's garbage over
			st, err := m.run(ctx, sc, round)
			if err != nil {
				return nil, err
			}
			stats[j] = st
			if st.Skipped != "" {
				logf("run %d %s: skipped (%s)", round+1, sc, st.Skipped)
			} else {
				logf("run %d %s: %d requests, p50 %s ms, p99 %s ms, %d errors",
					round+1, sc, st.Requests(), ms(st.Quantile(0.5)), ms(st.Quantile(0.99)), st.Errors)
			}
		}
		rep.Rounds = append(rep.Rounds, stats)
	}
	return rep, nil
}

func main() {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("lookup", flag.ExitOnError)
	fs.IntVar(&cfg.Nodes, "nodes", cfg.Nodes, "eventfold nodes")
	fs.IntVar(&cfg.Brokers, "brokers", cfg.Brokers, "kfake brokers")
	fs.IntVar(&cfg.Partitions, "partitions", cfg.Partitions, "partitions per entity type")
	fs.IntVar(&cfg.Entities, "entities", cfg.Entities, "demo entities to load (half orders, half users)")
	fs.IntVar(&cfg.EventsPerEntity, "events-per-entity", cfg.EventsPerEntity, "average events per entity")
	fs.Int64Var(&cfg.Seed, "seed", cfg.Seed, "demo data seed")
	fs.IntVar(&cfg.Concurrency, "concurrency", cfg.Concurrency, "concurrent closed-loop workers")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "measured time per scenario and run")
	fs.DurationVar(&cfg.Warmup, "warmup", cfg.Warmup, "discarded warm-up per scenario and run")
	fs.IntVar(&cfg.Runs, "runs", cfg.Runs, "measure every scenario this many times (interleaved); the summary is the median")
	scenarios := fs.String("scenarios", strings.Join(cfg.Scenarios, ","), "scenarios to run, in order: "+strings.Join(allScenarios, ","))
	fs.StringVar(&cfg.CPUProfile, "cpuprofile", "", "write a CPU profile of the measurement (all nodes + client) to this file")
	fs.StringVar(&cfg.Trace, "trace", "", "write an execution trace of the measurement to this file (go tool trace; keep -duration short)")
	verbose := fs.Bool("v", false, "log the nodes' warnings and errors to stderr")
	_ = fs.Parse(os.Args[1:])
	cfg.Scenarios = strings.Split(*scenarios, ",")
	if *verbose {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, err := Run(ctx, cfg, os.Stderr)
	if rep != nil {
		rep.WriteMarkdown(os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "lookup:", err)
		os.Exit(1)
	}
}
