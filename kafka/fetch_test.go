package kafka_test

import (
	"fmt"
	"math/rand"
	"runtime"
	"testing"
	"time"

	"github.com/eventfold/eventfold/eventfoldtest"
	"github.com/eventfold/eventfold/kafka"
)

// fetchTopic writes rounds × (one small wanted record + fillers of other
// keys) to a one-partition topic and returns the wanted records' offsets.
func fetchTopic(t *testing.T, k *eventfoldtest.Kafka, topic string, rounds, fillers, fillerBytes int) []int64 {
	t.Helper()
	ctx := eventfoldtest.Context(t, time.Minute)
	if _, err := kafka.EnsureTopics(ctx, k.Brokers, eventfoldtest.SaramaConfig(), []kafka.TopicSpec{
		{Name: topic, Kind: kafka.Events, Partitions: 1},
	}); err != nil {
		t.Fatal(err)
	}
	pr, err := kafka.NewProducer(k.Brokers, eventfoldtest.SaramaConfig(), kafka.FNV1a)
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	rng := rand.New(rand.NewSource(1))
	var recs []kafka.Record
	for i := 0; i < rounds; i++ {
		recs = append(recs, kafka.Record{Topic: topic, Key: "wanted", Value: []byte(fmt.Sprintf("wanted-%04d", i))})
		for j := 0; j < fillers; j++ {
			v := make([]byte, fillerBytes)
			rng.Read(v) // incompressible
			recs = append(recs, kafka.Record{Topic: topic, Key: fmt.Sprint("other-", j), Value: v})
		}
	}
	pos, err := pr.SendAll(ctx, recs)
	if err != nil {
		t.Fatal(err)
	}
	var offs []int64
	for i := 0; i < len(recs); i += fillers + 1 {
		offs = append(offs, pos[i].Offset)
	}
	return offs
}

// Records read by offset are kept (a history page holds its events while
// it is encoded): each must hold only its own bytes. sarama decodes a
// record as a slice of its whole (decompressed) batch, so before records
// were copied out, 200 small records spread over 12 MB of other keys'
// records kept all 12 MB alive.
func TestFetchedRecordsDoNotPinTheirFetchResponse(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	const rounds, fillers, fillerBytes = 200, 60, 1 << 10
	offs := fetchTopic(t, k, "pinned", rounds, fillers, fillerBytes)
	f, err := kafka.NewFetcher(k.Brokers, eventfoldtest.SaramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx := eventfoldtest.Context(t, time.Minute)

	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.HeapAlloc
	recs, err := f.FetchOffsets(ctx, "pinned", 0, offs, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	retained := int64(ms.HeapAlloc) - int64(before)
	for i, r := range recs {
		if want := fmt.Sprintf("wanted-%04d", i); string(r.Value) != want || r.Offset != offs[i] || string(r.Key) != "wanted" {
			t.Fatalf("record %d: %s=%q at %d, want %q at %d", i, r.Key, r.Value, r.Offset, want, offs[i])
		}
	}
	runtime.KeepAlive(recs)
	// The records are ~2 KB, the topic ~12 MB; the rest is what other
	// goroutines (the broker, earlier tests' clients) allocate meanwhile.
	const bound = 4 << 20
	t.Logf("%d records of %d among %d KB: %d KB retained", len(recs), len(recs[0].Value), rounds*fillers*fillerBytes>>10, retained>>10)
	if retained > bound {
		t.Errorf("holding %d small records retains %d KB, bound %d KB", len(recs), retained>>10, bound>>10)
	}
}

// EachOffset hands over the records in order, stops when asked, and
// refuses offsets it cannot find or that are out of order.
func TestEachOffsetStreamsInOrderAndStops(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	offs := fetchTopic(t, k, "each", 20, 30, 512)
	f, err := kafka.NewFetcher(k.Brokers, eventfoldtest.SaramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx := eventfoldtest.Context(t, time.Minute)
	var got []int64
	err = f.EachOffset(ctx, "each", 0, offs, 16<<10, func(r kafka.Fetched) bool {
		got = append(got, r.Offset)
		return len(got) < 7
	})
	if err != nil || fmt.Sprint(got) != fmt.Sprint(offs[:7]) {
		t.Fatalf("stopped after 7: %v %v, want %v", got, err, offs[:7])
	}
	got = got[:0]
	if err := f.EachOffset(ctx, "each", 0, offs, 1<<20, func(r kafka.Fetched) bool { got = append(got, r.Offset); return true }); err != nil || fmt.Sprint(got) != fmt.Sprint(offs) {
		t.Fatalf("all: %v %v", got, err)
	}
	last := offs[len(offs)-1]
	if err := f.EachOffset(ctx, "each", 0, []int64{offs[0], last + 1000}, 1<<20, func(kafka.Fetched) bool { return true }); err == nil {
		t.Error("an offset past the end: no error")
	}
	if err := f.EachOffset(ctx, "each", 0, []int64{offs[3], offs[1]}, 1<<20, func(kafka.Fetched) bool { return true }); err == nil {
		t.Error("offsets out of order: no error")
	}
}
