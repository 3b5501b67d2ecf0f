package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/eventfold/eventfold/demo"
	"github.com/eventfold/eventfold/demo/projections"
	"github.com/eventfold/eventfold/processor"
	"github.com/eventfold/eventfold/projection"
)

func runTopics(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("topics", flag.ContinueOnError)
	var k kafkaFlags
	k.register(fs)
	create := fs.Bool("create", false, "create missing topics (default: only verify)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s takes no arguments, got %q", fs.Name(), fs.Arg(0))
	}
	sc, _, err := k.sarama()
	if err != nil {
		return err
	}
	if w := k.security.warning(); w != "" {
		fmt.Fprintln(os.Stderr, "eventfold: warning:", w)
	}
	if err := k.probe(ctx, sc); err != nil {
		return err
	}
	set, err := projection.NewSet(projections.All()...)
	if err != nil {
		return err
	}
	// The projections' tables and repartition topics too (their re-keying
	// creates its own state topics when it starts).
	p, err := processor.New(k.brokerList(), append(demo.Entities(), set.Tables()...),
		processor.WithApp(k.app), processor.WithSaramaConfig(sc), processor.WithTopicPrefix(k.topicPrefix), processor.WithPartitions(int32(k.partitions)), processor.WithReplication(int16(k.replication)))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	states, err := p.EnsureTopics(ctx, *create)
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tKIND\tPARTITIONS\tREPLICATION\tSTATUS")
	for _, st := range states {
		status := "ok"
		if st.Created {
			status = "created"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", st.Spec.Name, st.Spec.Kind, st.Partitions, st.Spec.Replication, status)
	}
	tw.Flush()
	return err
}
