package kafka_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/eventfold/eventfold"
	"github.com/eventfold/eventfold/eventfoldtest"
	"github.com/eventfold/eventfold/kafka"
)

// The partition computed for a key is the partition Kafka stored it in.
func TestPartitionMatchesWhereRecordsLand(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 2)
	ctx := eventfoldtest.Context(t, time.Minute)
	for _, p := range []kafka.Partitioner{kafka.FNV1a, kafka.Murmur2} {
		t.Run(string(p), func(t *testing.T) {
			topic := "part-" + string(p)
			if _, err := kafka.EnsureTopics(ctx, k.Brokers, eventfoldtest.SaramaConfig(), []kafka.TopicSpec{
				{Name: topic, Kind: kafka.Events, Partitions: 7},
			}); err != nil {
				t.Fatal(err)
			}
			pr, err := kafka.NewProducer(k.Brokers, eventfoldtest.SaramaConfig(), p)
			if err != nil {
				t.Fatal(err)
			}
			defer pr.Close()
			recs := make([]kafka.Record, 2000)
			for i := range recs {
				recs[i] = kafka.Record{Topic: topic, Key: fmt.Sprintf("key-%d-é", i), Value: []byte("x")}
			}
			if _, err := pr.SendAll(ctx, recs); err != nil {
				t.Fatal(err)
			}
			// Read back what the broker stored, not what the producer said.
			msgs, err := kafka.ReadAll(ctx, k.Brokers, eventfoldtest.SaramaConfig(), topic)
			if err != nil {
				t.Fatal(err)
			}
			if len(msgs) != len(recs) {
				t.Fatalf("read %d records, wrote %d", len(msgs), len(recs))
			}
			for _, m := range msgs {
				if want := p.Partition(string(m.Key), 7); m.Partition != want {
					t.Fatalf("%s: stored in %d, Partition says %d", m.Key, m.Partition, want)
				}
			}
		})
	}
}

func TestEnsureTopicsVerifiesExisting(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	ctx := eventfoldtest.Context(t, time.Minute)
	cfg := eventfoldtest.SaramaConfig()
	admin, err := sarama.NewClusterAdmin(k.Brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	str := func(s string) *string { return &s }
	create := func(name string, parts int32, conf map[string]*string) {
		if err := admin.CreateTopic(name, &sarama.TopicDetail{NumPartitions: parts, ReplicationFactor: 1, ConfigEntries: conf}, false); err != nil {
			t.Fatal(err)
		}
	}
	create("short-retention", 3, map[string]*string{"retention.ms": str("3600000")})
	create("not-compacted", 3, map[string]*string{"cleanup.policy": str("delete")})
	create("compacted-events", 3, map[string]*string{"cleanup.policy": str("compact")})
	create("three", 3, nil)

	for _, tc := range []struct {
		name string
		spec kafka.TopicSpec
		bad  bool
	}{
		{"events with finite retention", kafka.TopicSpec{Name: "short-retention", Kind: kafka.Events, Partitions: 3}, true},
		{"table not compacted", kafka.TopicSpec{Name: "not-compacted", Kind: kafka.Table, Partitions: 3}, true},
		{"compacted events topic", kafka.TopicSpec{Name: "compacted-events", Kind: kafka.Events, Partitions: 3, Config: map[string]string{}}, true},
		{"wrong partition count", kafka.TopicSpec{Name: "three", Kind: kafka.Table, Partitions: 5}, true},
		{"adopted partition count", kafka.TopicSpec{Name: "new-events", Kind: kafka.Events, Partitions: 4, AdoptPartitions: true}, false},
		{"created table", kafka.TopicSpec{Name: "new-table", Kind: kafka.Table, Partitions: 4}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := kafka.EnsureTopics(ctx, k.Brokers, cfg, []kafka.TopicSpec{tc.spec})
			if tc.bad != errors.Is(err, eventfold.ErrTopicMismatch) {
				t.Fatalf("EnsureTopics = %v, want mismatch %v", err, tc.bad)
			}
			if !tc.bad && (len(st) != 1 || !st[0].Created) {
				t.Fatalf("states = %+v", st)
			}
		})
	}
	// Created topics pass verification, with their configuration in place.
	if _, err := kafka.VerifyTopics(ctx, k.Brokers, cfg, []kafka.TopicSpec{
		{Name: "new-events", Kind: kafka.Events, Partitions: 4},
		{Name: "new-table", Kind: kafka.Table, Partitions: 4},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := kafka.VerifyTopics(ctx, k.Brokers, cfg, []kafka.TopicSpec{{Name: "missing", Kind: kafka.Events, Partitions: 1}}); !errors.Is(err, eventfold.ErrTopicMismatch) {
		t.Fatalf("VerifyTopics(missing) = %v", err)
	}
}
