package processor_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand"
	"strings"
	"testing"

	"github.com/eventfold/eventfold/entity"
	"github.com/eventfold/eventfold/eventfoldtest"
	"github.com/eventfold/eventfold/kafka"
	"github.com/eventfold/eventfold/limits"
	"github.com/eventfold/eventfold/processor"
	"github.com/eventfold/eventfold/table"
)

// A history page ends before the event that would take its payload bytes
// past the bound (WithHistoryPageBytes), holds at least one event (one
// bigger than the bound comes alone), and its next continues right after
// its last event: paging with ?limit=1000 lists every event once, in order.
func TestHistoryPagesEndAtTheByteBound(t *testing.T) {
	const bound, events = 8 << 10, 150
	k := eventfoldtest.NewKafka(t, 1)
	r := startProcessor(t, k.Brokers, t.TempDir(), processor.WithHistoryPageBytes(bound), processor.WithHistoryFanout(4))
	rng := rand.New(rand.NewSource(3))
	var recs []kafka.Record
	for i := 0; i < events; i++ {
		n := 50 + rng.Intn(3000)
		if i%37 == 5 {
			n = bound + 4000 // a page of its own
		}
		v := fmt.Sprintf(`{"type":"Added","n":1,"pad":"%s"}`, strings.Repeat("p", n))
		recs = append(recs, kafka.Record{Topic: "counters-events", Key: "paged", Value: []byte(v)},
			kafka.Record{Topic: "counters-events", Key: fmt.Sprint("other-", i%5), Value: encodeAdded(t, 1)})
	}
	pos := produce(t, k.Brokers, recs)
	var want []kafka.Record
	var wantOffs []int64
	for i, rec := range recs {
		if rec.Key == "paged" && pos[i].Partition == pos[0].Partition {
			want, wantOffs = append(want, rec), append(wantOffs, pos[i].Offset)
		}
	}
	waitVersions(t, r.Processor, "counters", map[string]uint64{"paged": events})

	ctx := context.Background()
	var got []table.HistoryEvent
	after, pages := int64(-1), 0
	for {
		page, err := r.History(ctx, "counters", "paged", after, limits.HistoryPageEvents)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		sum := 0
		for _, e := range page.Events {
			sum += len(e.Payload)
		}
		switch {
		case len(page.Events) == 0:
			t.Fatalf("page %d after %d is empty", pages, after)
		case sum != page.Bytes:
			t.Fatalf("page %d: Bytes %d, payloads %d", pages, page.Bytes, sum)
		case len(page.Events) > 1 && sum > bound:
			t.Fatalf("page %d: %d events of %d bytes, bound %d", pages, len(page.Events), sum, bound)
		}
		got = append(got, page.Events...)
		if page.Next < 0 {
			break
		}
		if last := page.Events[len(page.Events)-1].Offset; page.Next != last {
			t.Fatalf("page %d: next %d, last event at %d", pages, page.Next, last)
		}
		// The page is full: the event after it would not have fitted.
		if nxt := len(want[len(got)].Value); sum+nxt <= bound {
			t.Fatalf("page %d ends at %d bytes; the next event (%d bytes) fits in %d", pages, sum, nxt, bound)
		}
		after = page.Next
	}
	if len(got) != len(want) {
		t.Fatalf("%d events in %d pages, want %d", len(got), pages, len(want))
	}
	for i, e := range got {
		if e.Offset != wantOffs[i] || !bytes.Equal(e.Payload, want[i].Value) || e.Version != uint64(i+1) || !e.Applied || e.Type != "Added" {
			t.Fatalf("event %d: offset %d version %d %s %d bytes, want offset %d version %d", i, e.Offset, e.Version, e.Type, len(e.Payload), wantOffs[i], i+1)
		}
	}
	t.Logf("%d events (%d KB) in %d pages of at most %d KB", len(got), sumPayloads(got)>>10, pages, bound>>10)

	// The count limit still ends a page first when it is the smaller.
	page, err := r.History(ctx, "counters", "paged", -1, 2)
	if err != nil || len(page.Events) != 2 || page.Next != wantOffs[1] {
		t.Fatalf("limit 2: %d events, next %d, %v", len(page.Events), page.Next, err)
	}
}

func sumPayloads(evs []table.HistoryEvent) int {
	n := 0
	for _, e := range evs {
		n += len(e.Payload)
	}
	return n
}

// A page bound below one byte is a configuration error, not a page that
// can never end.
func TestHistoryPageBytesMustBePositive(t *testing.T) {
	for _, n := range []int{0, -1} {
		if _, err := processor.New([]string{"127.0.0.1:1"}, []entity.Definition{counterEntity}, processor.WithHistoryPageBytes(n)); err == nil {
			t.Errorf("WithHistoryPageBytes(%d): no error", n)
		}
	}
}
