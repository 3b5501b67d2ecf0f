// Command eventfold is the eventfold contender of `make bench`: one node
// (package node: processor + ownership + HTTP API + metrics, as `eventfold
// serve` runs it) folding only the demo orders entity, with the serve
// defaults (history index on, info logging to stderr) unless told otherwise.
//
// It prints on stdout:
//
//	progress <unix ns> <events handled> <events applied>   every -progress
//	assigned <unix ns>                                     after each partition assignment
//	recovered <unix ns>                                    when every owned partition is recovered
//	ready <unix ns>                                        when /readyz first answers 200
//
// where handled = applied + redelivered + dead letters + rejected command
// events, read from the node's own Prometheus registry.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/eventfold/eventfold/demo/orders"
	"github.com/eventfold/eventfold/entity"
	"github.com/eventfold/eventfold/kafka"
	"github.com/eventfold/eventfold/node"
	"github.com/eventfold/eventfold/processor"
)

func main() {
	brokers := flag.String("brokers", "127.0.0.1:19092", "comma-separated bootstrap servers")
	app := flag.String("app", "bench-eventfold", "application (group <app>-orders, table <app>-orders-table)")
	nodeID := flag.String("node-id", "", "node id (default: generated)")
	dataDir := flag.String("data-dir", "data-eventfold", "LevelDB directory")
	httpAddr := flag.String("http", "127.0.0.1:0", "HTTP listen address")
	partitions := flag.Int("partitions", 12, "partitions of topics it creates")
	replication := flag.Int("replication", 1, "replication of topics it creates")
	history := flag.Bool("history", true, "keep the per-entity history index (the serve default)")
	level := flag.String("log-level", "info", "log level (serve's default: info)")
	every := flag.Duration("progress", 250*time.Millisecond, "progress line interval")
	pprofAddr := flag.String("pprof", "", "serve net/http/pprof on this address")
	ensureOnly := flag.Bool("ensure-topics", false, "create the topics, print them and exit")
	// Experiment knobs (defaults: kafka.NewConfig's), for finding where the time goes.
	compression := flag.String("x-compression", "", "override Producer.Compression (none, snappy, lz4, zstd)")
	flushBytes := flag.Int("x-flush-bytes", -1, "override Producer.Flush.Bytes")
	notIdempotent := flag.Bool("x-not-idempotent", false, "producer without idempotence, Net.MaxOpenRequests=5")
	flag.Parse()

	if *pprofAddr != "" {
		go func() { log.Println(http.ListenAndServe(*pprofAddr, nil)) }()
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		log.Fatalf("-log-level: %v", err)
	}
	logger := slog.New(&watchHandler{Handler: slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl})})

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	var popts []processor.Option
	if !*history {
		popts = append(popts, processor.WithoutHistory())
	}
	if *ensureOnly {
		p, err := processor.New(strings.Split(*brokers, ","), []entity.Definition{orders.Entity},
			append(popts, processor.WithSaramaConfig(benchSarama()), processor.WithApp(*app), processor.WithPartitions(int32(*partitions)), processor.WithReplication(int16(*replication)))...)
		if err != nil {
			log.Fatalf("eventfold: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		states, err := p.EnsureTopics(ctx, true)
		for _, st := range states {
			fmt.Printf("topic %s partitions %d created %v\n", st.Spec.Name, st.Partitions, st.Created)
		}
		if err != nil {
			log.Fatalf("eventfold: %v", err)
		}
		return
	}
	sc := benchSarama()
	if *compression != "" {
		if err := sc.Producer.Compression.UnmarshalText([]byte(*compression)); err != nil {
			log.Fatalf("-x-compression: %v", err)
		}
	}
	if *flushBytes >= 0 {
		sc.Producer.Flush.Bytes = *flushBytes
	}
	if *notIdempotent {
		sc.Producer.Idempotent = false
		sc.Net.MaxOpenRequests = 5
	}
	n, err := node.New(node.Config{
		Brokers:          strings.Split(*brokers, ","),
		Entities:         []entity.Definition{orders.Entity},
		App:              *app,
		NodeID:           *nodeID,
		DataDir:          *dataDir,
		HTTPAddr:         *httpAddr,
		Partitions:       int32(*partitions),
		Replication:      int16(*replication),
		Logger:           logger,
		Registry:         reg,
		Sarama:           sc,
		ProcessorOptions: popts,
	})
	if err != nil {
		log.Fatalf("eventfold: %v", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go progress(ctx, reg, *every)
	go waitReady(ctx, n.URL())
	go func() { // restore timing: poll finely until the owned partitions are recovered
		for ctx.Err() == nil && !n.Processor().Recovered() {
			time.Sleep(5 * time.Millisecond)
		}
		if ctx.Err() == nil {
			fmt.Printf("recovered %d\n", time.Now().UnixNano())
		}
	}()
	fmt.Printf("url %s\n", n.URL())
	if err := n.Run(ctx); err != nil {
		log.Fatalf("eventfold: %v", err)
	}
	h, a := counts(reg)
	fmt.Printf("progress %d %d %d\n", time.Now().UnixNano(), h, a)
}

// benchSarama is kafka.NewConfig, the config `eventfold serve` uses, with
// one guard shared with the goka contender: a producer that batches by size
// (Flush.Bytes) must also flush by time, or sarama holds a partial batch
// until it fills (the last changelog writes and their offset commits wait
// forever, and goka's shutdown waits 60 s for them).
func benchSarama() *sarama.Config {
	sc := kafka.NewConfig()
	if sc.Producer.Flush.Frequency == 0 && (sc.Producer.Flush.Bytes > 0 || sc.Producer.Flush.Messages > 0) {
		fmt.Printf("note %d kafka.NewConfig has Producer.Flush.Bytes=%d with Flush.Frequency=0: a partial batch is never flushed; the bench sets Flush.Frequency=5ms\n",
			time.Now().UnixNano(), sc.Producer.Flush.Bytes)
		sc.Producer.Flush.Frequency = 5 * time.Millisecond
	}
	return sc
}

// counts sums the processor's counters: events handled, and applied.
func counts(g prometheus.Gatherer) (handled, applied int64) {
	mfs, err := g.Gather()
	if err != nil {
		return 0, 0
	}
	for _, mf := range mfs {
		var sum float64
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue()
		}
		switch mf.GetName() {
		case "eventfold_processor_events_folded_total":
			applied = int64(sum)
			handled += int64(sum)
		case "eventfold_processor_events_redelivered_total",
			"eventfold_processor_dead_letters_total",
			"eventfold_processor_command_events_rejected_total":
			handled += int64(sum)
		}
	}
	return handled, applied
}

func progress(ctx context.Context, g prometheus.Gatherer, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			h, a := counts(g)
			fmt.Printf("progress %d %d %d\n", now.UnixNano(), h, a)
		}
	}
}

// waitReady polls the node's own /readyz until it first answers 200.
func waitReady(ctx context.Context, url string) {
	c := &http.Client{Timeout: time.Second}
	for ctx.Err() == nil {
		resp, err := c.Get(url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				fmt.Printf("ready %d\n", time.Now().UnixNano())
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// watchHandler passes records on and reports partition assignments on stdout.
type watchHandler struct{ slog.Handler }

func (h *watchHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "partitions assigned" {
		fmt.Printf("assigned %d\n", time.Now().UnixNano())
	}
	if !h.Handler.Enabled(ctx, r.Level) {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h *watchHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo || h.Handler.Enabled(ctx, l)
}

func (h *watchHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &watchHandler{Handler: h.Handler.WithAttrs(as)}
}

func (h *watchHandler) WithGroup(name string) slog.Handler {
	return &watchHandler{Handler: h.Handler.WithGroup(name)}
}
