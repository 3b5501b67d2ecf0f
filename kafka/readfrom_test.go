package kafka_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/eventfold/eventfold/eventfoldtest"
	"github.com/eventfold/eventfold/kafka"
)

// ReadFrom is a bounded read: from an offset, in order, until the caller
// has enough or the high-water mark it found; it says where to go on.
func TestReadFromIsBoundedAndSaysWhereToGoOn(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	ctx := eventfoldtest.Context(t, time.Minute)
	const topic = "pages"
	if _, err := kafka.EnsureTopics(ctx, k.Brokers, eventfoldtest.SaramaConfig(), []kafka.TopicSpec{
		{Name: topic, Kind: kafka.Events, Partitions: 3},
	}); err != nil {
		t.Fatal(err)
	}
	pr, err := kafka.NewProducer(k.Brokers, eventfoldtest.SaramaConfig(), kafka.FNV1a)
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	// Partition 0: 25 records, sent one by one (25 batches); partition 1:
	// 40 in one go (few batches); partition 2: none.
	for i := 0; i < 25; i++ {
		if _, err := pr.Send(ctx, kafka.Record{Topic: topic, Key: "k", Value: []byte(fmt.Sprint("a-", i)), Pinned: true, Partition: 0}); err != nil {
			t.Fatal(err)
		}
	}
	var recs []kafka.Record
	for i := 0; i < 40; i++ {
		recs = append(recs, kafka.Record{Topic: topic, Key: "k", Value: []byte(fmt.Sprint("b-", i)), Pinned: true, Partition: 1})
	}
	if _, err := pr.SendAll(ctx, recs); err != nil {
		t.Fatal(err)
	}

	f, err := kafka.NewFetcher(k.Brokers, eventfoldtest.SaramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if ps, err := f.Partitions(topic); err != nil || fmt.Sprint(ps) != "[0 1 2]" {
		t.Fatalf("partitions = %v, %v", ps, err)
	}
	if _, err := f.Partitions("no-such-topic"); !errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
		t.Errorf("partitions of a missing topic: %v, want ErrUnknownTopicOrPartition", err)
	}
	for p, want := range []int64{25, 40, 0} {
		if hwm, err := f.HighWaterMark(topic, int32(p)); err != nil || hwm != want {
			t.Errorf("high-water mark of %d = %d, %v, want %d", p, hwm, err, want)
		}
	}

	// read takes at most n records of partition p from offset; a tiny
	// maxBytes makes each fetch a batch.
	read := func(p int32, offset int64, n int, maxBytes int32) (vals []string, next, hwm int64) {
		t.Helper()
		next, hwm, err := f.ReadFrom(ctx, topic, p, offset, maxBytes, func(r kafka.Fetched) bool {
			if len(vals) == n {
				return false
			}
			if r.Partition != p || r.Offset != offset+int64(len(vals)) {
				t.Fatalf("record %d/%d, want %d/%d", r.Partition, r.Offset, p, offset+int64(len(vals)))
			}
			vals = append(vals, string(r.Value))
			return true
		})
		if err != nil {
			t.Fatalf("ReadFrom(%d, %d): %v", p, offset, err)
		}
		return vals, next, hwm
	}
	for _, tc := range []struct {
		name      string
		p         int32
		offset    int64
		n         int
		maxBytes  int32
		first     string
		got       int
		next, hwm int64
	}{
		{"from the start, stopped", 0, 0, 10, 1, "a-0", 10, 10, 25},
		{"from the middle to the end", 0, 10, 100, 1, "a-10", 15, 25, 25},
		{"in one large fetch, stopped", 1, 0, 7, 1 << 20, "b-0", 7, 7, 40},
		{"within a batch to the end", 1, 33, 100, 1 << 20, "b-33", 7, 40, 40},
		{"at the end", 1, 40, 100, 1 << 20, "", 0, 40, 40},
		{"past the end", 1, 1000, 100, 1 << 20, "", 0, 40, 40},
		{"an empty partition", 2, 0, 100, 1 << 20, "", 0, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vals, next, hwm := read(tc.p, tc.offset, tc.n, tc.maxBytes)
			if len(vals) != tc.got || next != tc.next || hwm != tc.hwm || (tc.got > 0 && vals[0] != tc.first) {
				t.Errorf("read %d from %d/%d: %d records (first %v), next %d, hwm %d; want %d (first %s), next %d, hwm %d",
					tc.n, tc.p, tc.offset, len(vals), vals, next, hwm, tc.got, tc.first, tc.next, tc.hwm)
			}
		})
	}

	// Records appended after the read began wait for the next one.
	var seen int
	next, hwm, err := f.ReadFrom(ctx, topic, 0, 20, 1, func(kafka.Fetched) bool {
		if seen++; seen == 1 {
			if _, err := pr.Send(ctx, kafka.Record{Topic: topic, Key: "k", Value: []byte("late"), Pinned: true, Partition: 0}); err != nil {
				t.Error(err)
			}
		}
		return true
	})
	if err != nil || seen != 5 || next != 25 || hwm != 25 {
		t.Fatalf("a read while appending: %d records, next %d, hwm %d, %v; want 5 up to 25", seen, next, hwm, err)
	}
	if vals, next, hwm := read(0, next, 100, 1<<20); fmt.Sprint(vals) != "[late]" || next != 26 || hwm != 26 {
		t.Fatalf("the next read: %v, next %d, hwm %d", vals, next, hwm)
	}

	// Records deleted (by retention) are passed over: the read starts at
	// the partition's first record.
	admin, err := sarama.NewClusterAdmin(k.Brokers, eventfoldtest.SaramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := admin.DeleteRecords(topic, map[int32]int64{0: 22}); err != nil {
		t.Fatal(err)
	}
	var first int64 = -1
	next, hwm, err = f.ReadFrom(ctx, topic, 0, 3, 1<<20, func(r kafka.Fetched) bool {
		if first < 0 {
			first = r.Offset
		}
		return true
	})
	if err != nil || first != 22 || next != 26 || hwm != 26 {
		t.Fatalf("a read from a deleted offset: first %d, next %d, hwm %d, %v; want from 22 to 26", first, next, hwm, err)
	}
}
