package processor

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// The committed offset of a partition must always be a prefix of what was
// finished: past an offset that was delivered but not finished, a crash
// loses that offset's writes for good. These tests drive offsetTracker and
// orderedSession directly, with finishes out of order, gaps in the offsets
// (compacted or transactional markers), duplicates and many offsets.

// step is one event seen by a tracker: a delivery, or a finish and the
// commit it must (or must not) produce.
type step struct {
	deliver  []int64 // offsets delivered, in order
	finish   int64   // -1: none
	next     int64   // committable next offset after the finish
	commits  bool    // whether the finish grows the committable prefix
	describe string
}

func deliver(offs ...int64) step { return step{deliver: offs, finish: -1} }
func finish(off int64) step      { return step{finish: off} }
func finishCommits(off, next int64) step {
	return step{finish: off, next: next, commits: true}
}

func TestOffsetTrackerCommitsOnlyTheFinishedPrefix(t *testing.T) {
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"in order", []step{
			deliver(0, 1, 2),
			finishCommits(0, 1), finishCommits(1, 2), finishCommits(2, 3),
		}},
		{"out of order: nothing until the first finishes, then all of it", []step{
			deliver(0, 1, 2),
			finish(2), finish(1), finishCommits(0, 3),
		}},
		{"a hole in the middle holds everything after it", []step{
			deliver(10, 11, 12, 13),
			finishCommits(10, 11), finish(12), finish(13),
			finishCommits(11, 14),
		}},
		{"an unfinished offset is never passed", []step{
			deliver(0, 1, 2, 3),
			finish(1), finish(2), finish(3),
		}},
		{"gaps in the offsets (compaction): commit after the last finished", []step{
			deliver(5, 7, 10),
			finish(7), finishCommits(5, 8), finishCommits(10, 11),
		}},
		{"gaps, out of order", []step{
			deliver(3, 9, 40, 41),
			finish(41), finish(9), finish(40), finishCommits(3, 42),
		}},
		{"duplicate finishes change nothing", []step{
			deliver(0, 1, 2),
			finish(1), finish(1), finishCommits(0, 2), finish(1), finish(0),
			finishCommits(2, 3), finish(2),
		}},
		{"deliveries after finishes", []step{
			deliver(0), finishCommits(0, 1),
			deliver(1, 2), finish(2),
			deliver(3), finish(3), finishCommits(1, 4),
		}},
		{"a finish of an offset not (yet) delivered commits nothing", []step{
			deliver(0, 1), finish(5), finishCommits(0, 1), finishCommits(1, 2),
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := &offsetTracker{done: map[int64]bool{}}
			for i, s := range tc.steps {
				for _, o := range s.deliver {
					tr.delivered(o)
				}
				if s.finish < 0 {
					continue
				}
				next, ok := tr.finished(s.finish)
				if ok != s.commits || (ok && next != s.next) {
					t.Fatalf("step %d: finished(%d) = %d, %v; want %d, %v", i, s.finish, next, ok, s.next, s.commits)
				}
			}
		})
	}
}

// Thousands of offsets finished in shuffled windows: the tracker compacts
// its slice as it goes; the committed offset is still exactly the first
// unfinished one each time.
func TestOffsetTrackerManyOffsetsOutOfOrder(t *testing.T) {
	tr := &offsetTracker{done: map[int64]bool{}}
	const n, window = 5000, 37
	// Offsets with a gap every 7th (compacted away).
	var offs []int64
	for o := int64(0); len(offs) < n; o++ {
		if o%7 != 3 {
			offs = append(offs, o)
		}
	}
	for _, o := range offs {
		tr.delivered(o)
	}
	finished := map[int64]bool{}
	committed := int64(-1) // next offset to commit
	for start := 0; start < n; start += window {
		end := min(start+window, n)
		batch := slices.Clone(offs[start:end])
		slices.Reverse(batch)
		// Reverse within the window, then swap neighbours: out of order.
		for i := 0; i+1 < len(batch); i += 2 {
			batch[i], batch[i+1] = batch[i+1], batch[i]
		}
		for _, o := range batch {
			finished[o] = true
			next, ok := tr.finished(o)
			// The first offset not finished, in delivery order.
			want := int64(-1)
			for _, d := range offs {
				if !finished[d] {
					break
				}
				want = d + 1
			}
			if ok {
				if next != want || next <= committed {
					t.Fatalf("finished(%d) commits %d; first unfinished prefix ends at %d, last commit %d", o, next, want, committed)
				}
				committed = next
			} else if want != committed {
				t.Fatalf("finished(%d) commits nothing; the finished prefix grew to %d (last commit %d)", o, want, committed)
			}
		}
	}
	if committed != offs[n-1]+1 {
		t.Fatalf("all finished, committed %d, want %d", committed, offs[n-1]+1)
	}
	if tr.head > 1024 && tr.head*2 > len(tr.pending) {
		t.Errorf("tracker not compacted: head %d of %d", tr.head, len(tr.pending))
	}
}

// fakeSession is a sarama.ConsumerGroupSession that records MarkOffset.
type fakeSession struct {
	sarama.ConsumerGroupSession // nil: other methods are not called
	ctx                         context.Context
	mu                          sync.Mutex
	marks                       []string // "topic/partition@offset"
}

func (s *fakeSession) MarkOffset(topic string, partition int32, offset int64, _ string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.marks = append(s.marks, fmt.Sprintf("%s/%d@%d", topic, partition, offset))
}

func (s *fakeSession) Context() context.Context { return s.ctx }

func (s *fakeSession) taken() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.marks
	s.marks = nil
	return out
}

func TestOrderedSessionMarksOnlyTheFinishedPrefix(t *testing.T) {
	fs := &fakeSession{ctx: context.Background()}
	s := &orderedSession{ConsumerGroupSession: fs, trackers: map[topicPartition]*offsetTracker{}}
	for _, o := range []int64{10, 11, 12, 14} {
		s.tracker("ev", 0).delivered(o)
	}
	for _, o := range []int64{0, 1} {
		s.tracker("ev", 1).delivered(o)
	}
	s.tracker("other", 0).delivered(100)

	type call struct {
		topic     string
		partition int32
		offset    int64 // what goka marks: the offset after the finished message
		want      []string
	}
	for i, c := range []call{
		{"ev", 0, 12, nil},               // 11 finished, 10 not
		{"ev", 0, 15, nil},               // 14 finished
		{"ev", 1, 1, []string{"ev/1@1"}}, // partitions are independent
		{"other", 0, 101, []string{"other/0@101"}},
		{"ev", 0, 11, []string{"ev/0@12"}}, // 10 finished: 10, 11 committable
		{"ev", 0, 13, []string{"ev/0@15"}}, // 12 finished: through 14 (13 compacted away)
		{"ev", 0, 15, nil},                 // a duplicate mark
		{"ev", 1, 2, []string{"ev/1@2"}},
	} {
		s.MarkOffset(c.topic, c.partition, c.offset, "")
		if got := fs.taken(); !slices.Equal(got, c.want) {
			t.Fatalf("call %d: MarkOffset(%s, %d, %d) marked %v, want %v", i, c.topic, c.partition, c.offset, got, c.want)
		}
	}
	// MarkMessage goes through the same tracker.
	s.tracker("ev", 1).delivered(5)
	s.tracker("ev", 1).delivered(6)
	s.MarkMessage(&sarama.ConsumerMessage{Topic: "ev", Partition: 1, Offset: 6}, "")
	if got := fs.taken(); len(got) != 0 {
		t.Fatalf("MarkMessage of 6 before 5: marked %v", got)
	}
	s.MarkMessage(&sarama.ConsumerMessage{Topic: "ev", Partition: 1, Offset: 5}, "")
	if got := fs.taken(); !slices.Equal(got, []string{"ev/1@7"}) {
		t.Fatalf("MarkMessage of 5: marked %v, want [ev/1@7]", got)
	}
}

// fakeClaim is a claim whose messages the test sends.
type fakeClaim struct {
	sarama.ConsumerGroupClaim
	msgs chan *sarama.ConsumerMessage
}

func (c *fakeClaim) Topic() string                            { return "ev" }
func (c *fakeClaim) Partition() int32                         { return 3 }
func (c *fakeClaim) InitialOffset() int64                     { return 0 }
func (c *fakeClaim) HighWaterMarkOffset() int64               { return 1000 }
func (c *fakeClaim) Messages() <-chan *sarama.ConsumerMessage { return c.msgs }

// finishReversed is a goka stand-in: it reads every message of the claim,
// then finishes them last first.
type finishReversed struct{ n int }

func (finishReversed) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (finishReversed) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h finishReversed) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	var got []*sarama.ConsumerMessage
	for m := range c.Messages() {
		got = append(got, m)
		if len(got) == h.n {
			break
		}
	}
	for i := len(got) - 1; i >= 0; i-- {
		s.MarkMessage(got[i], "")
	}
	return nil
}

// Through the handler the processor installs: the relay records each
// delivery before the inner handler can finish it, so finishing in reverse
// commits once, at the end, and never an offset past an unfinished one.
func TestOrderedHandlerCommitsAfterTheEarliestUnfinished(t *testing.T) {
	fs := &fakeSession{ctx: context.Background()}
	var observed []int64
	var claimed int64 = -1
	h := &orderedHandler{
		inner:   finishReversed{n: 5},
		observe: func(_ int32, off, _ int64) { observed = append(observed, off) },
		onClaim: func(_ int32, next int64) { claimed = next },
	}
	claim := &fakeClaim{msgs: make(chan *sarama.ConsumerMessage, 5)}
	for _, o := range []int64{20, 21, 23, 24, 30} {
		claim.msgs <- &sarama.ConsumerMessage{Topic: "ev", Partition: 3, Offset: o}
	}
	close(claim.msgs)
	errc := make(chan error, 1)
	go func() { errc <- h.ConsumeClaim(fs, claim) }()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ConsumeClaim did not return")
	}
	if got := fs.taken(); !slices.Equal(got, []string{"ev/3@31"}) {
		t.Fatalf("marks %v, want one mark ev/3@31 once 20 finished", got)
	}
	if !slices.Equal(observed, []int64{20, 21, 23, 24, 30}) || claimed != 0 {
		t.Errorf("observed %v, claimed at %d", observed, claimed)
	}
}
