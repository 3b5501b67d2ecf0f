package processor_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventfold/eventfold/entity"
	"github.com/eventfold/eventfold/eventfoldtest"
	"github.com/eventfold/eventfold/kafka"
	"github.com/eventfold/eventfold/processor"
)

// metricSum adds up every series of the named metric in reg.
func metricSum(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

// resetOffsets deletes the group's committed offsets, so that (with
// OffsetOldest) every event is delivered again.
func resetOffsets(t *testing.T, brokers []string, group, topic string, partitions int32) {
	t.Helper()
	admin, err := sarama.NewClusterAdmin(brokers, eventfoldtest.SaramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	for p := int32(0); p < partitions; p++ {
		if err := admin.DeleteConsumerGroupOffset(group, topic, p); err != nil {
			t.Fatalf("delete offset %s/%d: %v", topic, p, err)
		}
	}
}

func TestRedeliveredEventsAreNotAppliedTwice(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 2)
	dir := t.TempDir()
	r := startProcessor(t, k.Brokers, dir)
	recs, want, versions := genCounters(t, 3, 30, 1500)
	produce(t, k.Brokers, recs)
	waitVersions(t, r.Processor, "counters", versions)
	r.stop(t)

	for _, tc := range []struct {
		name string
		dir  string
	}{
		{"local table", dir},
		{"changelog only", t.TempDir()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resetOffsets(t, k.Brokers, "eventfold-counters", "counters-events", 4)
			reg := prometheus.NewRegistry()
			r := startProcessor(t, k.Brokers, tc.dir, processor.WithRegisterer(reg))
			// Every event comes again; wait until all were seen, then compare.
			eventfoldtest.Eventually(t, 60*time.Second, func() error {
				seen := metricSum(t, reg, "eventfold_processor_events_redelivered_total") +
					metricSum(t, reg, "eventfold_processor_dead_letters_total")
				if seen < float64(len(recs)) {
					return errorf("seen %v of %d redelivered events", seen, len(recs))
				}
				return nil
			})
			if applied := metricSum(t, reg, "eventfold_processor_events_folded_total"); applied != 0 {
				t.Errorf("%v events applied a second time", applied)
			}
			checkStates(t, r.Processor, want, versions)
			r.stop(t)
		})
	}
}

func TestDeadLettersAndProcessingContinues(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 2)
	reg := prometheus.NewRegistry()
	r := startProcessor(t, k.Brokers, t.TempDir(), processor.WithRegisterer(reg))

	bad := []struct {
		key, value string
		reason     entity.Reason
	}{
		{"k1", "\x00\x01garbage", entity.ReasonDecode},
		{"k1", `{"type":"Removed","n":1}`, entity.ReasonDecode},
		{"k1", `{"type":"Added","n":-5}`, entity.ReasonEvolve},
		{"k1", `{"type":"Added","n":666}`, entity.ReasonPanic},
		{"", `{"type":"Added","n":1}`, entity.ReasonNoKey},
	}
	var recs []kafka.Record
	recs = append(recs, kafka.Record{Topic: "counters-events", Key: "k1", Value: encodeAdded(t, 1)})
	for _, b := range bad {
		recs = append(recs, kafka.Record{Topic: "counters-events", Key: b.key, Value: []byte(b.value)})
	}
	recs = append(recs, kafka.Record{Topic: "counters-events", Key: "k1", Value: encodeAdded(t, 2)})
	pos := produce(t, k.Brokers, recs)

	waitVersions(t, r.Processor, "counters", map[string]uint64{"k1": 2})
	e, _ := r.Get(context.Background(), "counters", "k1")
	if string(e.State) != `{"sum":3,"count":2,"last":[1,2]}` {
		t.Errorf("state = %s", e.State)
	}

	var dlq []*sarama.ConsumerMessage
	eventfoldtest.Eventually(t, 30*time.Second, func() error {
		var err error
		dlq, err = kafka.ReadAll(context.Background(), k.Brokers, eventfoldtest.SaramaConfig(), "counters-events-dlq")
		if err != nil {
			return err
		}
		if len(dlq) < len(bad) {
			return errorf("%d dead letters, want %d", len(dlq), len(bad))
		}
		return nil
	})
	if len(dlq) != len(bad) {
		t.Fatalf("%d dead letters, want %d", len(dlq), len(bad))
	}
	byOffset := map[string]*sarama.ConsumerMessage{}
	for _, m := range dlq {
		h := headers(m)
		byOffset[h[processor.HeaderSourcePartition]+"/"+h[processor.HeaderSourceOffset]] = m
	}
	for i, b := range bad {
		p := pos[i+1]
		m, ok := byOffset[strconv.Itoa(int(p.Partition))+"/"+strconv.FormatInt(p.Offset, 10)]
		if !ok {
			t.Errorf("no dead letter for %q at %v", b.value, p)
			continue
		}
		h := headers(m)
		if h[processor.HeaderReason] != string(b.reason) || h[processor.HeaderError] == "" || h[processor.HeaderSourceTopic] != "counters-events" {
			t.Errorf("dead letter of %q: headers %v", b.value, h)
		}
		if string(m.Value) != b.value || string(m.Key) != b.key {
			t.Errorf("dead letter of %q carries %q/%q", b.value, m.Key, m.Value)
		}
	}
	if got := metricSum(t, reg, "eventfold_processor_dead_letters_total"); got != float64(len(bad)) {
		t.Errorf("dead letter counter = %v, want %d", got, len(bad))
	}
}

func headers(m *sarama.ConsumerMessage) map[string]string {
	out := map[string]string{}
	for _, h := range m.Headers {
		out[string(h.Key)] = string(h.Value)
	}
	return out
}

// An event Evolve skips on purpose (entity.ErrSkip, what a projection
// answers to a copy of an input) is neither applied nor dead-lettered:
// the version stays, the history lists it as not applied, a counter
// counts it.
func TestSkippedEventsAreNeitherAppliedNorDeadLettered(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	reg := prometheus.NewRegistry()
	r := startProcessor(t, k.Brokers, t.TempDir(), processor.WithRegisterer(reg))
	produce(t, k.Brokers, []kafka.Record{
		{Topic: "counters-events", Key: "k1", Value: encodeAdded(t, 1)},
		{Topic: "counters-events", Key: "k1", Value: encodeAdded(t, 4242)},
		{Topic: "counters-events", Key: "k1", Value: encodeAdded(t, -1)}, // a dead letter, to know when the fold passed the skip
		{Topic: "counters-events", Key: "k1", Value: encodeAdded(t, 2)},
	})
	waitVersions(t, r.Processor, "counters", map[string]uint64{"k1": 2})
	if e, _ := r.Get(context.Background(), "counters", "k1"); string(e.State) != `{"sum":3,"count":2,"last":[1,2]}` {
		t.Errorf("state = %s", e.State)
	}
	page, err := r.History(context.Background(), "counters", "k1", -1, 10)
	if err != nil || len(page.Events) != 4 {
		t.Fatalf("history: %+v, %v", page, err)
	}
	if ev := page.Events[1]; ev.Applied || ev.Version != 1 {
		t.Errorf("the skipped event in the history: %+v, want not applied at version 1", ev)
	}
	eventfoldtest.Eventually(t, 30*time.Second, func() error {
		if got := metricSum(t, reg, "eventfold_processor_dead_letters_total"); got != 1 {
			return errorf("%v dead letters, want 1 (the -1, not the skip)", got)
		}
		return nil
	})
	dlq, err := kafka.ReadAll(context.Background(), k.Brokers, eventfoldtest.SaramaConfig(), "counters-events-dlq")
	if err != nil || len(dlq) != 1 || string(dlq[0].Value) != string(encodeAdded(t, -1)) {
		t.Fatalf("dead letters: %d, %v; want only the -1", len(dlq), err)
	}
	if got := metricSum(t, reg, "eventfold_processor_events_skipped_total"); got != 1 {
		t.Errorf("skipped counter = %v, want 1", got)
	}
}
