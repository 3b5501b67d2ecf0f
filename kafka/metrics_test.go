package kafka_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/eventfold/eventfold/eventfoldtest"
	"github.com/eventfold/eventfold/kafka"
)

// Every record a producer writes is counted once, as ok or error, in the
// collector all producers of a registry share.
func TestProducerMetricsCountResults(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	ctx := eventfoldtest.Context(t, time.Minute)
	const topic = "produced"
	if _, err := kafka.EnsureTopics(ctx, k.Brokers, eventfoldtest.SaramaConfig(), []kafka.TopicSpec{
		{Name: topic, Kind: kafka.Events, Partitions: 3},
	}); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	m1, err := kafka.NewProducerMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	m1.Watch(topic, "other")
	m2, err := kafka.NewProducerMetrics(reg) // a second producer of the same node
	if err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(reg, "eventfold_produced_records_total"); n != 4 {
		t.Fatalf("%d series after Watch, want 4 (2 topics × ok/error)", n)
	}

	var prs []*kafka.Producer
	for _, m := range []*kafka.ProducerMetrics{m1, m2} {
		pr, err := kafka.NewProducer(k.Brokers, eventfoldtest.SaramaConfig(), kafka.FNV1a, kafka.WithMetrics(m))
		if err != nil {
			t.Fatal(err)
		}
		defer pr.Close()
		prs = append(prs, pr)
	}
	for i := range 5 {
		if _, err := prs[i%2].Send(ctx, kafka.Record{Topic: topic, Key: "k", Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
	}
	// Larger than Producer.MaxMessageBytes: sarama refuses it.
	big := bytes.Repeat([]byte("x"), 2<<20)
	if _, err := prs[1].Send(ctx, kafka.Record{Topic: topic, Key: "k", Value: big}); err == nil {
		t.Fatal("a 2 MiB record was accepted")
	}

	// m1 and m2 are one collector: m1 sees what both producers counted.
	ok := testutil.ToFloat64(m1.Records(topic, kafka.ResultOK))
	bad := testutil.ToFloat64(m1.Records(topic, kafka.ResultError))
	if ok != 5 || bad != 1 {
		t.Fatalf("counted ok=%v error=%v, want 5 and 1", ok, bad)
	}
}
