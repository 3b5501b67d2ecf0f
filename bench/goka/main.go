// Command goka is the plain-goka contender of `make bench`: the orders fold
// (orders.Evolve) as a goka processor with a JSON group table, and nothing
// of eventfold's machinery (no envelope, dedupe, dead letters, history,
// ordered commits, HTTP). It uses the same sarama settings as eventfold
// (kafka.NewConfig: oldest offset, acks all, idempotent producer, range
// assignor) and goka's stock builders.
//
// It prints, on stdout, "progress <unix ns> <events handled>" every
// -progress, "assigned <unix ns>" on each partition assignment and
// "ready <unix ns>" once goka reports its tables recovered.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	gokacodec "github.com/lovoo/goka/codec"
	"github.com/lovoo/goka/storage"

	"github.com/eventfold/eventfold/kafka"
)

var handled atomic.Int64

// fold is the goka callback: one call per event, on its partition's goroutine.
func fold(ctx goka.Context, msg any) {
	defer handled.Add(1)
	data, _ := msg.([]byte)
	if next, ok := apply(ctx.Value(), data); ok {
		ctx.SetValue(next)
	}
}

func main() {
	brokers := flag.String("brokers", "127.0.0.1:19092", "comma-separated bootstrap servers")
	group := flag.String("group", "bench-goka-orders", "goka group (consumer group; table <group>-table)")
	topic := flag.String("topic", "orders-events", "events topic")
	dataDir := flag.String("data-dir", "data-goka", "LevelDB directory")
	replication := flag.Int("replication", 1, "replication of the table topic goka creates")
	every := flag.Duration("progress", 250*time.Millisecond, "progress line interval")
	pprofAddr := flag.String("pprof", "", "serve net/http/pprof on this address")
	flag.Parse()

	if *pprofAddr != "" {
		go func() { log.Println(http.ListenAndServe(*pprofAddr, nil)) }()
	}
	sc := kafka.NewConfig()
	sc.ClientID = "bench-goka"
	// The same guard as the eventfold contender's (bench/eventfold benchSarama).
	if sc.Producer.Flush.Frequency == 0 && (sc.Producer.Flush.Bytes > 0 || sc.Producer.Flush.Messages > 0) {
		fmt.Printf("note %d kafka.NewConfig has Producer.Flush.Bytes=%d with Flush.Frequency=0: a partial batch is never flushed; the bench sets Flush.Frequency=5ms\n",
			time.Now().UnixNano(), sc.Producer.Flush.Bytes)
		sc.Producer.Flush.Frequency = 5 * time.Millisecond
	}
	tm := goka.NewTopicManagerConfig()
	tm.Table.Replication = *replication
	tm.Stream.Replication = *replication

	// Setup, outside the measured span: create the table topic and wait
	// until every partition's leader answers ListOffsets. goka creates it
	// itself otherwise, and on Kafka 4.1 its table setup then sometimes
	// fails at once ("topic or partition that does not exist on this
	// broker"): metadata reaches the brokers a moment after the create.
	// eventfold's topic setup waits the same way (kafka.WaitLeaders).
	brokerList := strings.Split(*brokers, ",")
	if err := createTable(brokerList, sc, *topic, string(goka.GroupTable(goka.Group(*group))), *replication); err != nil {
		log.Fatalf("goka: %v", err)
	}

	g := goka.DefineGroup(goka.Group(*group),
		goka.Input(goka.Stream(*topic), new(gokacodec.Bytes), fold),
		goka.Persist(orderCodec{}),
	)
	p, err := goka.NewProcessor(brokerList, g,
		goka.WithStorageBuilder(storage.DefaultBuilder(*dataDir)),
		goka.WithRebalanceCallback(func(goka.Assignment) { fmt.Printf("assigned %d\n", time.Now().UnixNano()) }),
		goka.WithConsumerGroupBuilder(goka.ConsumerGroupBuilderWithConfig(sc)),
		goka.WithConsumerSaramaBuilder(goka.SaramaConsumerBuilderWithConfig(sc)),
		goka.WithProducerBuilder(goka.ProducerBuilderWithConfig(sc)),
		goka.WithTopicManagerBuilder(goka.TopicManagerBuilderWithConfig(sc, tm)),
	)
	if err != nil {
		log.Fatalf("goka: %v", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		t := time.NewTicker(*every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				fmt.Printf("progress %d %d\n", now.UnixNano(), handled.Load())
			}
		}
	}()
	go func() { // restore timing: poll finely until goka says recovered
		for ctx.Err() == nil && !p.Recovered() {
			time.Sleep(10 * time.Millisecond)
		}
		if ctx.Err() == nil {
			fmt.Printf("ready %d\n", time.Now().UnixNano())
		}
	}()
	if err := p.Run(ctx); err != nil {
		log.Fatalf("goka: %v", err)
	}
	fmt.Printf("progress %d %d\n", time.Now().UnixNano(), handled.Load())
}

// createTable creates the group table like goka's topic manager would
// (compacted, as many partitions as the events topic) and waits for it.
func createTable(brokers []string, sc *sarama.Config, events, table string, replication int) error {
	client, err := sarama.NewClient(brokers, kafka.Copy(sc, "bench-goka-setup"))
	if err != nil {
		return err
	}
	parts, err := client.Partitions(events)
	client.Close()
	if err != nil {
		return fmt.Errorf("partitions of %s: %w", events, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = kafka.EnsureTopics(ctx, brokers, sc, []kafka.TopicSpec{{Name: table, Kind: kafka.Table,
		Partitions: int32(len(parts)), Replication: int16(replication)}})
	return err
}
