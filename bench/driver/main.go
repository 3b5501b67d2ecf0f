// Command driver runs the side-by-side benchmarks of `make bench` (see
// bench/README.md): it loads the orders events into a running Kafka, runs
// each contender (eventfold with 1 and 2 nodes, plain goka, Kafka Streams)
// as its own process from offset 0 to the end, times restores from the
// changelogs, measures lookups against 1 and 3 eventfold nodes, and writes
// one markdown report.
//
//	driver run -brokers 127.0.0.1:19092 -bin bench/.bin -kstreams-cp 'bench/kstreams/target/app.jar:bench/kstreams/target/lib/*'
//	driver parity -kstreams-cp ...   # the Java fold equals orders.Evolve, byte for byte
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/eventfold/eventfold/bench/gen"
	"github.com/eventfold/eventfold/bench/internal/cputime"
)

type config struct {
	brokers        []string
	events         int
	entities       int
	seed           int64
	partitions     int
	topic          string
	bin            string
	java           string
	kstreamsCP     string
	ksThreads      int
	work           string
	out            string
	contenders     []string
	lookupDuration time.Duration
	lookupWarmup   time.Duration
	profileSeconds int
	kafkaPIDFile   string
	foldTimeout    time.Duration
	command        string
	repeat         int
	repeatSet      []string
}

var t0 = time.Now()

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "bench [%6.1fs] %s\n", time.Since(t0).Seconds(), fmt.Sprintf(format, a...))
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: driver run|parity [flags]")
		os.Exit(2)
	}
	var c config
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	brokers := fs.String("brokers", "127.0.0.1:19092", "bootstrap servers")
	fs.IntVar(&c.events, "events", 2_000_000, "events to load and fold")
	fs.IntVar(&c.entities, "entities", 100_000, "orders (entities)")
	fs.Int64Var(&c.seed, "seed", 1, "generator seed")
	fs.IntVar(&c.partitions, "partitions", 12, "partitions of the events topic")
	fs.StringVar(&c.topic, "topic", "orders-events", "events topic")
	fs.StringVar(&c.bin, "bin", "bench/.bin", "directory with the eventfold, goka and load binaries")
	fs.StringVar(&c.java, "java", "java", "java binary")
	fs.StringVar(&c.kstreamsCP, "kstreams-cp", "bench/kstreams/target/app.jar:bench/kstreams/target/lib/*", "classpath of the Kafka Streams contender")
	fs.IntVar(&c.ksThreads, "kstreams-threads", 2, "num.stream.threads of the Kafka Streams contender")
	fs.StringVar(&c.work, "work", "bench/.work", "scratch directory (state dirs, logs, profiles)")
	fs.StringVar(&c.out, "out", "bench/results.md", "report file")
	contenders := fs.String("contenders", "eventfold,eventfold-2,goka,kstreams,eventfold-nohistory", "fold contenders, in run order")
	fs.DurationVar(&c.lookupDuration, "lookup-duration", 10*time.Second, "measured time per lookup scenario (0: skip lookups)")
	fs.DurationVar(&c.lookupWarmup, "lookup-warmup", time.Second, "discarded warm-up per lookup scenario")
	fs.IntVar(&c.profileSeconds, "profile-seconds", 10, "CPU profile of the Go contenders during their fold (0: none)")
	fs.StringVar(&c.kafkaPIDFile, "kafka-pid-file", "", "pid file of the broker (for its CPU time)")
	fs.DurationVar(&c.foldTimeout, "fold-timeout", 15*time.Minute, "give up on a contender after this long")
	fs.StringVar(&c.command, "command", "make bench", "command line to cite in the report")
	fs.IntVar(&c.repeat, "repeat", 2, "runs of each contender in -repeat-contenders (the best counts)")
	repeatSet := fs.String("repeat-contenders", "eventfold,goka,eventfold-nohistory", "contenders run -repeat times")
	_ = fs.Parse(os.Args[2:])
	c.brokers = strings.Split(*brokers, ",")
	c.contenders = strings.Split(*contenders, ",")
	c.repeatSet = strings.Split(*repeatSet, ",")

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "run":
		err = run(ctx, c)
	case "parity":
		err = parity(c)
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// spec describes how to run one contender.
type spec struct {
	rep       int    // repetition (0: the first)
	key       string // contender id (-contenders)
	label     string
	group     string // consumer group
	changelog string // changelog topic
	eventfold bool   // done when applied >= dataset.Applied (else handled >= events)
	nodes     int
	argv      func(i int, dataDir string) []string
	pprof     func(i int) string // pprof address of node i, "" for none
}

// specs returns the contenders of repetition rep: the same programs on
// groups (and changelogs) of their own.
func (c config) specs(rep int) map[string]spec {
	sfx := ""
	if rep > 0 {
		sfx = fmt.Sprintf("-r%d", rep+1)
	}
	ef := func(key, label, app string, nodes int, history bool, extra ...string) spec {
		app += sfx
		return spec{rep: rep,
			key: key, label: label, group: app + "-orders", changelog: app + "-orders-table", eventfold: true, nodes: nodes,
			argv: func(i int, dir string) []string {
				return append([]string{filepath.Join(c.bin, "eventfold"), "-brokers", strings.Join(c.brokers, ","), "-app", app,
					"-node-id", fmt.Sprintf("%s-n%d", app, i+1), "-data-dir", dir, "-http", "127.0.0.1:0",
					"-partitions", itoa(c.partitions), "-history=" + strconv.FormatBool(history),
					"-pprof", fmt.Sprintf("127.0.0.1:%d", 16060+i)}, extra...)
			},
			pprof: func(i int) string { return fmt.Sprintf("127.0.0.1:%d", 16060+i) },
		}
	}
	return map[string]spec{
		"eventfold":           ef("eventfold", "eventfold, 1 node", "bench-ef1", 1, true),
		"eventfold-2":         ef("eventfold-2", "eventfold, 2 nodes", "bench-ef2", 2, true),
		"eventfold-nohistory": ef("eventfold-nohistory", "eventfold, 1 node, history index off", "bench-efnh", 1, false),
		"eventfold-flush1m": ef("eventfold-flush1m", "eventfold, 1 node, experiment: Producer.Flush.Bytes 1 MiB", "bench-effl", 1, true,
			"-x-flush-bytes", "1048576"),
		"goka": {
			rep: rep,
			key: "goka", label: "plain goka (same fold, JSON table)", group: "bench-goka-orders" + sfx, changelog: "bench-goka-orders" + sfx + "-table", nodes: 1,
			argv: func(i int, dir string) []string {
				return []string{filepath.Join(c.bin, "goka"), "-brokers", strings.Join(c.brokers, ","), "-group", "bench-goka-orders" + sfx,
					"-topic", c.topic, "-data-dir", dir, "-pprof", "127.0.0.1:16070"}
			},
			pprof: func(int) string { return "127.0.0.1:16070" },
		},
		"kstreams": {
			rep: rep,
			key: "kstreams", label: fmt.Sprintf("Kafka Streams 4.1.1 (%d stream threads)", c.ksThreads), group: "bench-kstreams" + sfx,
			changelog: "bench-kstreams" + sfx + "-orders-store-changelog", nodes: 1,
			argv: func(i int, dir string) []string {
				return []string{c.java, "-cp", c.kstreamsCP, "io.eventfold.bench.OrdersApp", "run",
					"--bootstrap", strings.Join(c.brokers, ","), "--app-id", "bench-kstreams" + sfx, "--state-dir", dir,
					"--topic", c.topic, "--threads", itoa(c.ksThreads)}
			},
		},
	}
}

// env is what every phase shares.
type env struct {
	cfg    config
	b      *broker
	ds     gen.Dataset
	rep    *report
	kafka  int // broker pid, 0 if unknown
	specs  map[string]spec
	folded map[string]spec // the first run of each contender that folded everything (its group's changelog is complete)
	kept   []*child        // eventfold nodes kept for lookups
	killed []*child
}

func run(ctx context.Context, c config) error {
	for _, d := range []string{c.work, filepath.Join(c.work, "logs"), filepath.Join(c.work, "profiles")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	e := &env{cfg: c, specs: c.specs(0), folded: map[string]spec{}, rep: &report{Date: time.Now(), Machine: machine(c.java), Cfg: c}}
	seen := map[string]bool{}
	for _, k := range c.contenders {
		if _, ok := e.specs[k]; !ok {
			return fmt.Errorf("unknown contender %q", k)
		}
		if seen[k] {
			return fmt.Errorf("contender %q twice (use -repeat)", k)
		}
		seen[k] = true
	}
	if c.kafkaPIDFile != "" {
		if b, err := os.ReadFile(c.kafkaPIDFile); err == nil {
			e.kafka, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
	}
	defer func() {
		for _, ch := range append(e.kept, e.killed...) {
			ch.stop(30 * time.Second)
		}
	}()

	logf("generating %d events over %d orders", c.events, c.entities)
	start := time.Now()
	e.ds = gen.Orders(c.seed, c.entities, c.events)
	e.rep.GenTime = time.Since(start)
	e.rep.Events, e.rep.Applied, e.rep.Exists, e.rep.Bytes = len(e.ds.Records), e.ds.Applied, e.ds.Exists, e.ds.Bytes
	logf("generated in %s: %d bytes (avg %.0f), %d applied by Evolve, %d invalid", e.rep.GenTime.Round(time.Millisecond),
		e.ds.Bytes, float64(e.ds.Bytes)/float64(len(e.ds.Records)), e.ds.Applied, len(e.ds.Records)-e.ds.Applied)

	var err error
	if e.b, err = newBroker(c.brokers); err != nil {
		return err
	}
	defer e.b.close()
	if err := e.b.createEventsTopic(c.topic, int32(c.partitions)); err != nil {
		return err
	}
	logf("loading into %s (%d partitions)", c.topic, c.partitions)
	d, err := produce(c.brokers, c.topic, e.ds.Records)
	if err != nil {
		return err
	}
	e.rep.LoadTime = d
	if n, err := e.b.records(c.topic); err != nil || n != int64(c.events) {
		return fmt.Errorf("topic %s holds %d records after the load, want %d (%v)", c.topic, n, c.events, err)
	}
	logf("loaded %d events in %s: %.0f events/s, %.1f MB/s", c.events, d.Round(time.Millisecond),
		float64(c.events)/d.Seconds(), float64(e.ds.Bytes)/d.Seconds()/1e6)
	e.ds.Records = nil // the contenders read them from Kafka
	if d, err := e.b.warmUp(c.topic, int64(c.events)); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	} else {
		logf("warm-up: __consumer_offsets ready, the topic read back once in %s (%.0f events/s)", d.Round(time.Millisecond), float64(c.events)/d.Seconds())
		e.rep.ReadBack = d
	}

	for _, k := range c.contenders {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r := e.fold(ctx, e.specs[k])
		if r.Err == "" {
			e.folded[k] = e.specs[k]
		}
		r.Reps = []float64{r.Rate}
		e.rep.Folds = append(e.rep.Folds, r)
	}
	// More runs of the contenders the key ratios hang on; the best run
	// counts (outside disturbances only ever slow a run down).
	for rep := 1; rep < c.repeat; rep++ {
		specs := c.specs(rep)
		for _, k := range c.contenders {
			if !contains(c.repeatSet, k) || ctx.Err() != nil {
				continue
			}
			r := e.fold(ctx, specs[k])
			if _, ok := e.folded[k]; !ok && r.Err == "" {
				e.folded[k] = specs[k]
			}
			for i := range e.rep.Folds {
				f := &e.rep.Folds[i]
				if f.Key != k {
					continue
				}
				reps := append(f.Reps, r.Rate)
				if r.Err == "" && (f.Err != "" || r.Rate > f.Rate) {
					*f = r
				}
				f.Reps = reps
			}
		}
	}
	// Restores: Kafka Streams and goka first, then eventfold, whose
	// restored node stays up for the lookups.
	for _, k := range []string{"kstreams", "goka", "eventfold"} {
		if !contains(c.contenders, k) || ctx.Err() != nil {
			continue
		}
		// Restore the changelog of a run that completed (a failed first run
		// leaves an incomplete one).
		s, ok := e.folded[k]
		if !ok {
			s = e.specs[k]
		}
		e.rep.Restores = append(e.rep.Restores, e.restore(ctx, s, k == "eventfold"))
	}
	if c.lookupDuration > 0 && len(e.kept) == 1 && ctx.Err() == nil {
		e.lookups(ctx)
	}
	if ctx.Err() != nil {
		e.rep.Interrupted = true
	}
	e.rep.Profiles = analyseProfiles(e.rep.Folds)
	md := e.rep.markdown()
	md += keptSections(c.out)
	if err := os.WriteFile(c.out, []byte(md), 0o644); err != nil {
		return err
	}
	fmt.Print(md)
	logf("report written to %s", c.out)
	return ctx.Err()
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// foldResult is one contender's run from offset 0 to the end.
type foldResult struct {
	Key, Label  string
	Nodes       int
	Rate        float64       // events/s between the first progress and the end
	Wall        time.Duration // launch → caught up
	Fold        time.Duration // first progress → caught up
	CPU         time.Duration // all its processes, launch → caught up
	PeakRSS     int64         // largest process
	SumRSS      int64         // all processes
	BrokerCPU   time.Duration // the broker's CPU meanwhile
	OtherCPU    time.Duration // every other process's CPU meanwhile (noise from outside the benchmark)
	Changelog   int64         // records in its changelog topic
	Lag         int64         // uncommitted records after shutdown
	Profiles    []string      // CPU profiles
	Reps        []float64     // events/s of every run (the best one is reported)
	Goroutines  goroutineSample
	Handled     int64
	Err         string
	startOffset float64
}

func (e *env) dir(name string) string { return filepath.Join(e.cfg.work, name) }

func (e *env) brokerCPU() time.Duration {
	if e.kafka == 0 {
		return 0
	}
	u, _ := procUsage(e.kafka)
	return u.CPU
}

func (e *env) fold(ctx context.Context, s spec) (r foldResult) {
	r = foldResult{Key: s.key, Label: s.label, Nodes: s.nodes}
	logf("fold: %s", s.label)
	b0, m0 := e.brokerCPU(), cputime.Machine()
	var kids []*child
	defer func() {
		for _, ch := range kids {
			ch.stop(60 * time.Second)
		}
		if r.Err != "" {
			logf("fold: %s: %s", s.label, r.Err)
		}
	}()
	if s.eventfold {
		// Topics first: two nodes creating them at once trip over
		// kafka.EnsureTopics' "describe ... after concurrent create" race.
		argv := append(s.argv(0, e.dir("state-topics")), "-ensure-topics")
		if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
			r.Err = fmt.Sprintf("creating topics: %v: %s", err, out)
			return r
		}
	}
	for i := range s.nodes {
		dir := e.dir(fmt.Sprintf("state-%s-n%d", s.key, i+1))
		_ = os.RemoveAll(dir)
		ch, err := startChild(fmt.Sprintf("%s#%d", s.key, i+1), filepath.Join(e.cfg.work, "logs", fmt.Sprintf("fold-%s-n%d.log", s.key, i+1)), s.argv(i, dir)...)
		if err != nil {
			r.Err = err.Error()
			return r
		}
		kids = append(kids, ch)
	}
	launch := kids[0].launch
	total := float64(e.rep.Events)
	if s.eventfold {
		total = float64(e.ds.Applied)
	}
	frac := func() (float64, int64, time.Time, time.Time) {
		var sum, handled int64
		var first, last time.Time
		for _, ch := range kids {
			h, a, at := ch.Progress()
			handled += h
			if s.eventfold {
				sum += a
			} else {
				sum += h
			}
			if h > 0 && (first.IsZero() || at.Before(first)) {
				first = at
			}
			if at.After(last) {
				last = at
			}
		}
		return float64(sum) / total, handled, first, last
	}
	var t1, tDone time.Time
	var f1 float64
	profiling := false
	profDone := make(chan struct{})
	close(profDone)
	deadline := time.Now().Add(e.cfg.foldTimeout)
	for {
		if ctx.Err() != nil {
			r.Err = "interrupted"
			return r
		}
		for _, ch := range kids {
			if ch.Exited() {
				r.Err = fmt.Sprintf("%s exited early (%v); see %s", ch.name, ch.waitErr, ch.log)
				return r
			}
		}
		f, handled, first, last := frac()
		if t1.IsZero() && handled > 0 {
			t1, f1 = first, f
		}
		// Profile node 1 from 30% of the fold on (LevelDB and the
		// changelog have grown by then), and sample its goroutines.
		if !profiling && f >= 0.3 && s.pprof != nil && e.cfg.profileSeconds > 0 {
			profiling = true
			profDone = make(chan struct{})
			go func() {
				defer close(profDone)
				p := filepath.Join(e.cfg.work, "profiles", fmt.Sprintf("%s-run%d-n1.pprof", s.key, s.rep+1))
				gs := make(chan goroutineSample, 1)
				go func() { gs <- sampleGoroutines(s.pprof(0), 5, time.Second) }()
				if err := fetchProfile(s.pprof(0), e.cfg.profileSeconds, p); err != nil {
					logf("profile %s: %v", s.key, err)
				} else {
					r.Profiles = append(r.Profiles, p)
				}
				r.Goroutines = <-gs
			}()
		}
		if f >= 1 {
			tDone, r.Handled = last, handled
			break
		}
		if time.Now().After(deadline) {
			r.Err = fmt.Sprintf("not caught up after %s (%.1f%%)", e.cfg.foldTimeout, 100*f)
			return r
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, ch := range kids {
		u := ch.usage()
		r.CPU += u.CPU
		r.SumRSS += u.PeakRSS
		r.PeakRSS = max(r.PeakRSS, u.PeakRSS)
	}
	r.BrokerCPU = e.brokerCPU() - b0
	r.OtherCPU = max(cputime.Machine()-m0-r.BrokerCPU-r.CPU, 0)
	r.Wall = tDone.Sub(launch)
	r.Fold = tDone.Sub(t1)
	r.startOffset = f1
	if r.Fold > 0 {
		r.Rate = float64(e.rep.Events) * (1 - f1) / r.Fold.Seconds()
	}
	logf("fold: %s caught up: %.0f events/s, wall %.1fs, CPU %.1fs, peak RSS %d MiB", s.label, r.Rate, r.Wall.Seconds(), r.CPU.Seconds(), r.PeakRSS>>20)
	<-profDone
	for _, ch := range kids {
		ch.stop(60 * time.Second)
	}
	kids = nil
	if lag, err := e.b.lag(s.group, e.cfg.topic); err == nil {
		r.Lag = lag
	} else {
		r.Lag = -1
	}
	if n, err := e.b.records(s.changelog); err == nil {
		r.Changelog = n
	}
	return r
}

// goroutineSample is where goka's partition goroutines were, on average
// over a few goroutine dumps taken during the fold.
type goroutineSample struct {
	Samples    int
	Partitions float64 // goka partition processor goroutines (run loops)
	InEmit     float64 // of them, blocked handing a record to the producer
}

func sampleGoroutines(addr string, n int, every time.Duration) goroutineSample {
	var g goroutineSample
	c := &http.Client{Timeout: 10 * time.Second}
	for i := 0; i < n; i++ {
		if i > 0 {
			time.Sleep(every)
		}
		resp, err := c.Get("http://" + addr + "/debug/pprof/goroutine?debug=2")
		if err != nil {
			continue
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			continue
		}
		g.Samples++
		for _, st := range strings.Split(string(b), "\n\n") {
			if !strings.Contains(st, "goka.(*PartitionProcessor).run(") {
				continue
			}
			g.Partitions++
			if strings.Contains(st, "goka.(*producer).EmitWithHeaders(") {
				g.InEmit++
			}
		}
	}
	if g.Samples > 0 {
		g.Partitions /= float64(g.Samples)
		g.InEmit /= float64(g.Samples)
	}
	return g
}

func fetchProfile(addr string, seconds int, path string) error {
	c := &http.Client{Timeout: time.Duration(seconds+30) * time.Second}
	resp, err := c.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, seconds))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, resp.Body)
	return err
}

// restoreResult is a recovery of a deleted local state from the changelog.
type restoreResult struct {
	Key, Label string
	Records    int64         // changelog records restored
	Restore    time.Duration // assignment (or first restore) → recovered
	Launch     time.Duration // launch → recovered (ready to serve)
	CPU        time.Duration
	PeakRSS    int64
	Method     string
	Err        string
}

func (r restoreResult) Rate() float64 {
	if r.Restore <= 0 {
		return 0
	}
	return float64(r.Records) / r.Restore.Seconds()
}

func (e *env) restore(ctx context.Context, s spec, keep bool) (r restoreResult) {
	r = restoreResult{Key: s.key, Label: s.label}
	logf("restore: %s", s.label)
	// The fold's state dir is gone with a new, empty one: a node that lost its disk.
	old := e.dir(fmt.Sprintf("state-%s-n1", s.key))
	_ = os.RemoveAll(old)
	dir := e.dir(fmt.Sprintf("state-%s-restore", s.key))
	_ = os.RemoveAll(dir)
	argv := s.argv(0, dir)
	if s.eventfold {
		for i, a := range argv { // its own pprof port, free for the lookup nodes
			if a == "-pprof" {
				argv[i+1] = "127.0.0.1:16069"
			}
		}
	}
	ch, err := startChild(s.key+"-restore", filepath.Join(e.cfg.work, "logs", "restore-"+s.key+".log"), argv...)
	if err != nil {
		r.Err = err.Error()
		return r
	}
	if keep {
		e.kept = append(e.kept, ch)
	} else {
		defer ch.stop(60 * time.Second)
	}
	doneMark := map[string]string{"eventfold": "recovered", "goka": "ready", "kstreams": "state:RUNNING"}[s.key]
	deadline := time.Now().Add(e.cfg.foldTimeout)
	var tDone time.Time
	for {
		if ctx.Err() != nil || ch.Exited() {
			r.Err = fmt.Sprintf("exited or interrupted; see %s", ch.log)
			return r
		}
		if t, ok := ch.Mark(doneMark); ok {
			tDone = t
			break
		}
		if time.Now().After(deadline) {
			r.Err = "not recovered in time"
			return r
		}
		time.Sleep(5 * time.Millisecond)
	}
	u := ch.usage()
	r.CPU, r.PeakRSS = u.CPU, u.PeakRSS
	r.Launch = tDone.Sub(ch.launch)
	if s.key == "kstreams" {
		ch.mu.Lock()
		r.Records, r.Restore = ch.restored, ch.restEnd.Sub(ch.restStart)
		ch.mu.Unlock()
		r.Method = "first onRestoreStart → last onRestoreEnd (StateRestoreListener)"
	} else {
		n, err := e.b.records(s.changelog)
		if err != nil {
			r.Err = err.Error()
		}
		r.Records = n
		assigned, _ := ch.Mark("assigned")
		r.Restore = tDone.Sub(assigned)
		r.Method = "partitions assigned → every partition recovered"
	}
	logf("restore: %s: %d records in %.2fs (%.0f records/s); launch → ready %.2fs", s.label, r.Records, r.Restore.Seconds(), r.Rate(), r.Launch.Seconds())
	return r
}

// waitCluster waits until every node is ready and they agree on a stable
// ownership map with n members.
func waitCluster(ctx context.Context, nodes []*child, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	c := &http.Client{Timeout: 2 * time.Second}
	for {
		if ok, why := clusterSettled(c, nodes, n); ok {
			return nil
		} else if time.Now().After(deadline) {
			return fmt.Errorf("cluster of %d not settled after %s: %s", n, timeout, why)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// keptMarker starts the part of results.md that other benchmarks write
// (go run ./bench/subscribers): the driver keeps it as it is.
const keptMarker = "<!-- kept by the driver: sections written by other benchmarks -->"

// keptSections returns the kept part of the report at path, if any.
func keptSections(path string) string {
	old, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	i := strings.Index(string(old), keptMarker)
	if i < 0 {
		return ""
	}
	return "\n" + string(old[i:])
}
