// Command subscribers measures how fast a subscriber delivers while the
// fold runs beside it, on one node on an in-process kfake broker: a no-op
// handler, and the built-in webhook POSTing to a local server that checks
// each signature.
//
// For each handler it starts a new broker, appends -events demo events
// (orders and users, demo.Generate), starts one node (package node) with
// the fold of both types and one subscriber following both, and measures
// from the node's start until every event was handed to the handler. The
// fold starts on the same events at the same moment; its own catch-up
// time is reported beside it. It prints a markdown table.
//
//	go run ./bench/subscribers
//	go run ./bench/subscribers -events 50000 -handlers noop
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/eventfold/eventfold/bench/internal/cputime"
	"github.com/eventfold/eventfold/demo"
	"github.com/eventfold/eventfold/kafka"
	"github.com/eventfold/eventfold/node"
	"github.com/eventfold/eventfold/subscriber"
)

type result struct {
	handler                string
	events                 int
	delivered              int64
	deliverSeconds         float64
	foldSeconds            float64
	cpuSeconds             float64
	concurrency, partition int
}

func main() {
	events := flag.Int("events", 200_000, "demo events to append")
	entities := flag.Int("entities", 20_000, "demo entities")
	partitions := flag.Int("partitions", 12, "partitions of the events topics")
	concurrency := flag.Int("concurrency", 16, "keys handled at once (Subscriber.Concurrency)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	handlers := flag.String("handlers", "none,noop,webhook", "handlers to measure (none: the fold alone)")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "subscribers:", err)
			os.Exit(1)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "subscribers:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	var rows []result
	for _, h := range strings.Split(*handlers, ",") {
		r, err := measure(h, *events, *entities, *partitions, *concurrency)
		if err != nil {
			fmt.Fprintln(os.Stderr, "subscribers:", err)
			os.Exit(1)
		}
		rows = append(rows, r)
	}
	fmt.Printf("Written by `go run ./bench/subscribers` on %s; %d CPUs, %s; one node and an in-process kfake broker in one process.\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), runtime.NumCPU(), runtime.Version())
	fmt.Println("| handler | events | partitions | concurrency | delivered | deliveries/s (node start → all delivered) | fold caught up s | all delivered s | process CPU s |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range rows {
		if r.handler == "none" {
			fmt.Printf("| none (the fold alone) | %d | %d | — | — | — | %.1f | — | %.1f |\n", r.events, r.partition, r.foldSeconds, r.cpuSeconds)
			continue
		}
		fmt.Printf("| %s | %d | %d | %d | %d | **%.0f** | %.1f | %.1f | %.1f |\n", r.handler, r.events, r.partition, r.concurrency,
			r.delivered, float64(r.events)/r.deliverSeconds, r.foldSeconds, r.deliverSeconds, r.cpuSeconds)
	}
}

func measure(handler string, events, entities, partitions, concurrency int) (result, error) {
	res := result{handler: handler, events: events, concurrency: concurrency, partition: partitions}
	k, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(100*time.Millisecond))
	if err != nil {
		return res, err
	}
	defer k.Close()
	brokers := k.ListenAddrs()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sc := kafka.NewConfig()
	sc.Consumer.Group.Heartbeat.Interval = 200 * time.Millisecond
	var specs []kafka.TopicSpec
	for _, t := range []string{"orders-events", "users-events"} {
		specs = append(specs, kafka.TopicSpec{Name: t, Kind: kafka.Events, Partitions: int32(partitions), Replication: 1})
	}
	if _, err := kafka.EnsureTopics(ctx, brokers, sc, specs); err != nil {
		return res, err
	}
	pr, err := kafka.NewProducer(brokers, sc, kafka.FNV1a)
	if err != nil {
		return res, err
	}
	all := demo.Generate(1, entities, events)
	for i := 0; i < len(all); i += 5000 {
		var recs []kafka.Record
		for _, e := range all[i:min(i+5000, len(all))] {
			recs = append(recs, kafka.Record{Topic: e.Entity + "-events", Key: e.ID, Value: e.Data})
		}
		if _, err := pr.SendAll(ctx, recs); err != nil {
			return res, err
		}
	}
	pr.Close()
	res.events = len(all)

	var h subscriber.Handler
	var delivered atomic.Int64
	seen := sync.Map{}
	count := func(d subscriber.Delivery) {
		if _, dup := seen.LoadOrStore(d.EventID, true); !dup {
			delivered.Add(1)
		}
	}
	switch handler {
	case "none": // the fold alone, for comparison
	case "noop":
		h = subscriber.HandlerFunc(func(_ context.Context, d subscriber.Delivery) error { count(d); return nil })
	case "webhook":
		secret := []byte("bench-webhook-secret-0123456789")
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return res, err
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			if subscriber.VerifyWebhook(secret, r.Header.Get(subscriber.WebhookHeaderSignature), b, time.Now(), time.Minute) != nil {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		})}
		go srv.Serve(l)
		defer srv.Close()
		wh, err := subscriber.NewWebhook("http://"+l.Addr().String()+"/hook", secret)
		if err != nil {
			return res, err
		}
		h = subscriber.HandlerFunc(func(ctx context.Context, d subscriber.Delivery) error {
			if err := wh.Handle(ctx, d); err != nil {
				return err
			}
			count(d)
			return nil
		})
	default:
		return res, fmt.Errorf("unknown handler %q (none, noop, webhook)", handler)
	}
	var subs []subscriber.Subscriber
	if h != nil {
		subs = []subscriber.Subscriber{{Name: "bench", Entities: []string{"orders", "users"}, Handler: h, Concurrency: concurrency}}
	}
	dir, err := os.MkdirTemp("", "eventfold-bench-subscribers-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	reg := prometheus.NewRegistry()
	n, err := node.New(node.Config{
		Brokers: brokers, Entities: demo.Entities(), DataDir: dir, HTTPAddr: "127.0.0.1:0", Partitions: int32(partitions),
		Sarama: sc, Registry: reg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Subscribers: subs,
	})
	if err != nil {
		return res, err
	}
	cpu0 := cputime.Process()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	foldDone := time.Duration(0)
	for h != nil && delivered.Load() < int64(res.events) {
		select {
		case err := <-done:
			return res, fmt.Errorf("node stopped: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
		if foldDone == 0 && foldCaughtUp(reg, partitions) {
			foldDone = time.Since(start)
		}
		if time.Since(start) > 30*time.Minute {
			return res, errors.New("not delivered within 30 minutes")
		}
	}
	res.deliverSeconds = time.Since(start).Seconds()
	for foldDone == 0 && time.Since(start) < 30*time.Minute {
		if foldCaughtUp(reg, partitions) {
			foldDone = time.Since(start)
		}
		time.Sleep(50 * time.Millisecond)
	}
	res.foldSeconds = foldDone.Seconds()
	res.cpuSeconds = (cputime.Process() - cpu0).Seconds()
	res.delivered = delivered.Load()
	cancel()
	<-done
	return res, nil
}

// foldCaughtUp: every partition of both types reports a consumer lag of 0.
func foldCaughtUp(reg *prometheus.Registry, partitions int) bool {
	mfs, err := reg.Gather()
	if err != nil {
		return false
	}
	for _, mf := range mfs {
		if mf.GetName() != "eventfold_processor_consumer_lag" {
			continue
		}
		if len(mf.GetMetric()) < 2*partitions {
			return false
		}
		for _, m := range mf.GetMetric() {
			if m.GetGauge().GetValue() != 0 {
				return false
			}
		}
		return true
	}
	return false
}
