package systemtest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/eventfold/eventfold/cluster"
	"github.com/eventfold/eventfold/demo"
	"github.com/eventfold/eventfold/demo/users"
	"github.com/eventfold/eventfold/kafka"
	"github.com/eventfold/eventfold/processor"
)

// Many updates to few keys: Kafka compacts the changelog, and a node that
// recovers from the compacted changelog alone serves the same state.
func TestChangelogIsCompacted(t *testing.T) {
	needKafka(t)
	app := uniqueApp("compact")
	ctx := ctxFor(t, 5*time.Minute)
	tableCfg := map[string]string{
		"segment.ms":                "1000",
		"min.cleanable.dirty.ratio": "0.01",
		"delete.retention.ms":       "0",
	}
	run := func(dir string) (*processor.Processor, context.CancelFunc, chan error) {
		p, err := processor.New(brokers, demo.Entities(),
			processor.WithApp(app), processor.WithTopicPrefix(app+"-"),
			processor.WithDataDir(dir), processor.WithPartitions(2), processor.WithReplication(3),
			processor.WithTableConfig(tableCfg), processor.WithSaramaConfig(saramaConfig()))
		if err != nil {
			t.Fatal(err)
		}
		pctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- p.Run(pctx) }()
		if err := p.WaitRecovered(ctxFor(t, 2*time.Minute)); err != nil {
			t.Fatal(err)
		}
		return p, cancel, done
	}
	p, cancel, done := run(t.TempDir())

	// 10 users, 2,000 logins each: 20,010 table writes for 10 keys.
	pr, err := kafka.NewProducer(brokers, saramaConfig(), kafka.FNV1a)
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	var recs []kafka.Record
	add := func(id string, e users.Event) {
		b, err := users.Events.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, kafka.Record{Topic: app + "-users-events", Key: id, Value: b})
	}
	for u := 0; u < 10; u++ {
		add(fmt.Sprintf("u-%d", u), &users.UserCreated{Name: "n", Email: "e@x"})
	}
	for i := 0; i < 2000; i++ {
		for u := 0; u < 10; u++ {
			add(fmt.Sprintf("u-%d", u), &users.UserLoggedIn{At: time.Unix(int64(i), 0).UTC().Format(time.RFC3339)})
		}
	}
	if _, err := pr.SendAll(ctx, recs); err != nil {
		t.Fatal(err)
	}
	waitLogins := func(p *processor.Processor, n int) {
		deadline := time.Now().Add(2 * time.Minute)
		for u := 0; u < 10; u++ {
			for {
				e, err := p.Get(ctx, "users", fmt.Sprintf("u-%d", u))
				if err == nil && e.Version == uint64(n+1) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("u-%d: %+v %v", u, e, err)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
	waitLogins(p, 2000)

	table := cluster.Settings{App: app}.TableTopic("users")
	countTable := func() int {
		msgs, err := kafka.ReadAll(ctx, brokers, saramaConfig(), table)
		if err != nil {
			t.Fatal(err)
		}
		return len(msgs)
	}
	before := countTable()
	// The active segment is never cleaned, and a segment rolls only when a
	// record arrives after segment.ms: keep writing a little to every key
	// (so to both partitions) and the cleaner gets dirty closed segments.
	const compacted = 200 // 10 keys, plus what the active segments still hold
	start := time.Now()
	after := before
	extra := 0
	for i := 0; after > compacted && time.Since(start) < 2*time.Minute; i++ {
		extra++
		recs = recs[:0]
		for u := 0; u < 10; u++ {
			add(fmt.Sprintf("u-%d", u), &users.UserLoggedIn{At: time.Unix(int64(10_000+i), 0).UTC().Format(time.RFC3339)})
		}
		if _, err := pr.SendAll(ctx, recs); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1100 * time.Millisecond)
		after = countTable()
	}
	// Wait for the last extra logins to be folded before stopping.
	waitLogins(p, 2000+extra)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if after > compacted {
		t.Fatalf("changelog %s still has %d records (had %d): not compacted within %v", table, after, before, time.Since(start))
	}

	// Recover from the compacted changelog alone and compare.
	p2, cancel2, done2 := run(t.TempDir())
	defer func() { cancel2(); <-done2 }()
	equal := 0
	for u := 0; u < 10; u++ {
		id := fmt.Sprintf("u-%d", u)
		e2, err := p2.Get(ctx, "users", id)
		if err != nil {
			t.Errorf("%s after recovery: %v", id, err)
			continue
		}
		want := uint64(2001 + extra)
		var st users.User
		switch {
		case e2.Version != want:
			t.Errorf("%s recovered at version %d, want %d", id, e2.Version, want)
		case jsonUnmarshal(e2.State, &st) != nil || st.Logins != int(e2.Version-1):
			t.Errorf("%s recovered state %s (logins should be %d)", id, e2.State, e2.Version-1)
		default:
			equal++
		}
	}
	report(t, "| changelog compaction | %d writes to 10 keys | compacted to %d records in %.1fs (from %d) | recovered from the compacted changelog alone: %d of 10 users equal |",
		20_010+10*extra, after, time.Since(start).Seconds(), before, equal)
}
