package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/eventfold/eventfold/demo"
	"github.com/eventfold/eventfold/demo/orders"
	"github.com/eventfold/eventfold/kafka"
	"github.com/eventfold/eventfold/node"
)

// runDev is `make run`: an in-process Kafka-protocol broker (kfake), one
// node folding the demo domains, and demo data, with nothing to install.
// Everything lives in memory and a temporary directory and is gone on exit.
func runDev(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	var f serveFlags
	f.register(fs)
	f.subs.run = "all" // dev shows the side effects too; --subscribers=none turns them off
	kafkaPort := fs.Int("kafka-port", 0, "port of the in-process broker (0: any free port)")
	entities := fs.Int("seed-entities", 200, "demo entities to create")
	events := fs.Int("seed-events", 2000, "demo events to append")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s takes no arguments, got %q", fs.Name(), fs.Arg(0))
	}
	if f.kafka.security.set() {
		return fmt.Errorf("dev runs its own in-process broker, without TLS or SASL: drop the --kafka-tls, --kafka-ca-file, --kafka-cert-file, --kafka-key-file, --kafka-server-name and --kafka-sasl-* settings (and %s)", envSASLPassword)
	}
	var opts []kfake.Opt
	if *kafkaPort != 0 {
		opts = append(opts, kfake.Ports(*kafkaPort))
	}
	cluster, err := kfake.NewCluster(opts...)
	if err != nil {
		return fmt.Errorf("in-process broker: %w", err)
	}
	defer cluster.Close()
	dir, err := os.MkdirTemp("", "eventfold-dev-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	f.kafka.brokers = cluster.ListenAddrs()[0]
	f.dataDir = dir
	// Dev mode listens on loopback only; the URL is derived from the listener.
	f.httpAddr = loopback(f.httpAddr)
	if f.nodeID == "" {
		f.nodeID = "dev-1"
	}
	cfg, err := f.config()
	if err != nil {
		return err
	}
	n, err := node.New(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()

	wctx, wcancel := context.WithTimeout(ctx, time.Minute)
	err = n.Processor().WaitRecovered(wctx)
	wcancel()
	if err != nil {
		cancel()
		return fmt.Errorf("node did not start: %w (%v)", err, <-done)
	}
	if err := seed(ctx, cfg, *entities, *events); err != nil {
		cfg.Logger.Error("seeding demo data failed", slog.Any("error", err))
	}
	// Print the tour once its first example answers.
	for i := 0; i < 200; i++ {
		if _, err := n.Processor().Get(ctx, "orders", "order-42"); err == nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	fmt.Printf(`
eventfold dev is running.
  Kafka (in-process): %s
  Node:               %s   (metrics: %[2]s/metrics, cluster: %[2]s/v1/cluster)

Try:
  curl -s %[2]s/v1/orders/order-42 | jq .
  curl -s -XPOST -H 'Content-Type: application/json' %[2]s/v1/orders/order-42/events -d '{"type":"OrderApproved","approved_by":"you"}'
  curl -s %[2]s/v1/orders/order-42 | jq .state.status
  curl -s %[2]s/v1/users/user-000001 | jq .
  go run ./cmd/eventfold get orders order-000001

Ctrl-C stops it (all data is in memory and a temp dir).
`, f.kafka.brokers, n.URL())
	return <-done
}

// seed appends the demo data set plus order-42, the seed articles' example
// whose quantity changes from 5 to 6.
func seed(ctx context.Context, cfg node.Config, entities, events int) error {
	p, err := kafka.NewProducer(cfg.Brokers, cfg.Sarama, cfg.Partitioner)
	if err != nil {
		return err
	}
	defer p.Close()
	var recs []kafka.Record
	for _, e := range demo.Generate(1, entities, events) {
		recs = append(recs, kafka.Record{Topic: e.Entity + "-events", Key: e.ID, Value: e.Data})
	}
	for _, ev := range []orders.Event{
		&orders.OrderCreated{CustomerID: "user-000001"},
		&orders.ItemAdded{SKU: "BOOK-1", Quantity: 5, PriceCents: 1250},
		&orders.QuantityChanged{SKU: "BOOK-1", Quantity: 6},
	} {
		b, err := orders.Events.Encode(ev)
		if err != nil {
			return err
		}
		recs = append(recs, kafka.Record{Topic: "orders-events", Key: "order-42", Value: b})
	}
	_, err = p.SendAll(ctx, recs)
	return err
}

// loopback turns a listen address like ":8080" into "127.0.0.1:8080".
func loopback(addr string) string {
	if len(addr) > 0 && addr[0] == ':' {
		return "127.0.0.1" + addr
	}
	return addr
}
