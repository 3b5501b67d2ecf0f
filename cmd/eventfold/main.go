// Command eventfold runs eventfold nodes and talks to them.
//
//	eventfold serve   --brokers host:9092 --data-dir /var/lib/eventfold --http :8080
//	eventfold dev     # in-process Kafka + one node + demo data, no Kafka needed
//	eventfold emit    orders order-1 '{"type":"OrderCreated","customer_id":"c-1"}'
//	eventfold get     orders order-1
//	eventfold history orders order-1 [--as-of 2026-01-02T15:04:05Z | --version 2]
//	eventfold cmd     orders order-1 '{"type":"ApproveOrder"}' --if-match 3
//	eventfold topics  --brokers host:9092 [--create]
//	eventfold subscribers [pause|resume <name>]
//
// Flags may come before, between or after the arguments; "--" ends them.
// Every flag can also be set as an environment variable: --data-dir is
// EVENTFOLD_DATA_DIR. Flags win over the environment.
//
// The binary folds the demo domains (orders, users). Applications with their
// own entity types build their own main with package node.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

type command struct {
	name, summary string
	run           func(ctx context.Context, args []string) error
}

var commands = []command{
	{"serve", "run a node against Kafka", runServe},
	{"dev", "run an in-process Kafka, one node and demo data (no Kafka needed)", runDev},
	{"emit", "append an event: emit <entity> <id> <json>", runEmit},
	{"get", "read an entity: get <entity> <id>, or a projection: get projections/<name> <key>", runGet},
	{"history", "list an entity's events, or its state at a time: history <entity> <id> [--as-of T | --version N]", runHistory},
	{"list", "list ids in key order: list <entity> or list projections/<name> [--prefix P] [--limit N] [--all]", runList},
	{"cmd", "send a command: cmd <entity> <id> <json> [--if-match V] [--idempotency-key K]", runCmd},
	{"topics", "create or verify the topics the node needs", runTopics},
	{"subscribers", "show the subscribers on every node, or pause|resume <name>", runSubscribers},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "eventfold:", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage()
		if len(args) == 0 {
			return errors.New("no command")
		}
		return nil
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(ctx, args[1:])
		}
	}
	usage()
	return fmt.Errorf("unknown command %q", args[0])
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: eventfold <command> [arguments and flags]\n\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(os.Stderr, "  %-11s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(os.Stderr, "\nFlags may come before, between or after the arguments (\"--\" ends them).")
	fmt.Fprintln(os.Stderr, "Run 'eventfold <command> -h' for its flags. Every flag is also read from EVENTFOLD_<FLAG> (e.g. EVENTFOLD_BROKERS).")
}
