package processor_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eventfold/eventfold"
	"github.com/eventfold/eventfold/codec"
	"github.com/eventfold/eventfold/entity"
	"github.com/eventfold/eventfold/eventfoldtest"
	"github.com/eventfold/eventfold/kafka"
	"github.com/eventfold/eventfold/limits"
	"github.com/eventfold/eventfold/processor"
)

// An entity whose state grows with every event: notes keeps every text.
type noteEvent interface{ noteEvent() }

type noted struct {
	Text string `json:"text"`
}

func (*noted) noteEvent() {}

type notebook struct {
	Notes []string `json:"notes"`
}

type noteCommand interface{ noteCommand() }

type noteMany struct {
	Texts []string `json:"texts"`
}

func (*noteMany) noteCommand() {}

var noteEvents = codec.NewUnion[noteEvent]().MustRegister("Noted", func() noteEvent { return &noted{} })

var notesEntity = entity.Entity[notebook, noteEvent]{
	Name:   "notes",
	Events: noteEvents,
	Evolve: func(s notebook, e noteEvent) (notebook, error) {
		n := e.(*noted)
		if n.Text == "" {
			return s, errors.New("empty note")
		}
		if n.Text == "panic" {
			panic("a note that panics")
		}
		s.Notes = append(s.Notes, n.Text)
		return s, nil
	},
	Commands: entity.Commands[notebook, noteEvent, noteCommand]{
		Codec: codec.NewUnion[noteCommand]().MustRegister("NoteMany", func() noteCommand { return &noteMany{} }),
		Decide: func(_ notebook, c noteCommand) ([]noteEvent, error) {
			var out []noteEvent
			for _, t := range c.(*noteMany).Texts {
				out = append(out, &noted{Text: t})
			}
			return out, nil
		},
	},
}

func startNotes(t *testing.T, brokers []string, dir string, opts ...processor.Option) *running {
	t.Helper()
	return startEntities(t, brokers, dir, []entity.Definition{notesEntity}, append([]processor.Option{processor.WithPartitions(2)}, opts...)...)
}

func noteRecord(t *testing.T, key, text string) kafka.Record {
	b, err := noteEvents.Encode(&noted{Text: text})
	if err != nil {
		t.Fatal(err)
	}
	return kafka.Record{Topic: "notes-events", Key: key, Value: b}
}

// deadLetters reads topic's dead letters, keyed by "partition/offset".
func deadLetters(t *testing.T, brokers []string, topic string) map[string]*sarama.ConsumerMessage {
	t.Helper()
	msgs, err := kafka.ReadAll(context.Background(), brokers, eventfoldtest.SaramaConfig(), topic)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*sarama.ConsumerMessage{}
	for _, m := range msgs {
		h := headers(m)
		id := h[processor.HeaderSourcePartition] + "/" + h[processor.HeaderSourceOffset]
		if _, dup := out[id]; dup {
			t.Errorf("two dead letters for %s", id)
		}
		out[id] = m
	}
	return out
}

// waitDeadLetters waits until topic holds exactly n dead letters and
// returns them, keyed by "partition/offset".
func waitDeadLetters(t *testing.T, brokers []string, topic string, n int) map[string]*sarama.ConsumerMessage {
	t.Helper()
	var dl map[string]*sarama.ConsumerMessage
	eventfoldtest.Eventually(t, 20*time.Second, func() error {
		dl = deadLetters(t, brokers, topic)
		if len(dl) != n {
			return fmt.Errorf("%d dead letters, want %d", len(dl), n)
		}
		return nil
	})
	return dl
}

func posID(p kafka.Position) string { return fmt.Sprintf("%d/%d", p.Partition, p.Offset) }

// Several valid events, each well under the record limit, would push one
// entity's envelope over it: the one that would is dead-lettered as
// state_too_large instead of becoming a table write that can never succeed
// (which stopped the node for good), and the fold goes on.
func TestStateTooLargeIsDeadLetteredAndTheFoldGoesOn(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	reg := prometheus.NewRegistry()
	r := startNotes(t, k.Brokers, t.TempDir(), processor.WithRegisterer(reg))
	big := strings.Repeat("x", 400_000)
	pos := produce(t, k.Brokers, []kafka.Record{
		noteRecord(t, "big", big+"1"), noteRecord(t, "big", big+"2"),
		noteRecord(t, "big", big+"3"), // 1.2 MB of state: too large
		noteRecord(t, "big", "small"), // still fits after the refusal
		noteRecord(t, "other", "fine"),
	})
	waitVersions(t, r.Processor, "notes", map[string]uint64{"big": 3, "other": 1})
	e, err := r.Get(context.Background(), "notes", "big")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(e.State), big+"3") || !strings.Contains(string(e.State), `"small"`) {
		t.Errorf("state holds the refused note or lacks the later one (%d bytes)", len(e.State))
	}
	dl := waitDeadLetters(t, k.Brokers, "notes-events-dlq", 1)
	m, ok := dl[posID(pos[2])]
	if !ok {
		t.Fatalf("no dead letter for the third note at %v: %v", pos[2], dl)
	}
	if h := headers(m); h[processor.HeaderReason] != string(entity.ReasonStateTooLarge) {
		t.Errorf("reason %q, want %q", h[processor.HeaderReason], entity.ReasonStateTooLarge)
	}
	if got := metricSum(t, reg, "eventfold_processor_envelopes_oversized_total"); got != 0 {
		t.Errorf("%v envelopes over the limit reached the store", got)
	}
	if !r.Recovered() {
		t.Error("the processor is no longer recovered")
	}
	select {
	case err := <-r.done:
		r.cancel, r.done = nil, nil
		t.Fatalf("the processor stopped: %v", err)
	default:
	}
	// A command that would outgrow the record is refused before it appends.
	_, err = r.Execute(eventfoldtest.Context(t, 30*time.Second), "notes", "big", []byte(`{"type":"NoteMany","texts":["`+big+`a","`+big+`b"]}`), entity.CommandOptions{})
	if !errors.Is(err, eventfold.ErrStateTooLarge) {
		t.Errorf("command growing the state past the limit: %v, want ErrStateTooLarge", err)
	}
}

// An event that fills a record on its own cannot be copied into its dead
// letter beside the reason headers: the dead letter carries a reference to
// the source position instead, and is written (the fold would otherwise
// retry a write that can never succeed).
func TestDeadLetterOfARecordSizedEventCarriesAReference(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	r := startNotes(t, k.Brokers, t.TempDir())
	// Evolve rejects an empty note; the padding makes the record as large
	// as a record may be.
	val := `{"type":"Noted","text":"","pad":"` + strings.Repeat("p", limits.RecordBytes-limits.RecordOverhead-200) + `"}`
	pos := produce(t, k.Brokers, []kafka.Record{
		{Topic: "notes-events", Key: "k", Value: []byte(val)},
		noteRecord(t, "k", "after"),
	})
	waitVersions(t, r.Processor, "notes", map[string]uint64{"k": 1})
	dl := waitDeadLetters(t, k.Brokers, "notes-events-dlq", 1)
	m := dl[posID(pos[0])]
	if m == nil {
		t.Fatalf("no dead letter for %v", pos[0])
	}
	h := headers(m)
	if h[processor.HeaderValueOmitted] != strconv.Itoa(len(val)) || len(m.Value) != 0 {
		t.Errorf("dead letter: %d value bytes, omitted header %q, want none and %d", len(m.Value), h[processor.HeaderValueOmitted], len(val))
	}
	if h[processor.HeaderReason] != string(entity.ReasonEvolve) || h[processor.HeaderSourceTopic] != "notes-events" || string(m.Key) != "k" {
		t.Errorf("dead letter headers %v, key %q", h, m.Key)
	}
}

// refuseProduce makes kfake refuse produce requests to topic while refuse
// says so, with a retriable error; it returns how many it refused.
func refuseProduce(k *eventfoldtest.Kafka, topic string, refuse func() bool) *atomic.Int64 {
	return answerProduce(k, func(t string) bool { return t == topic }, kerr.NotLeaderForPartition.Code, refuse)
}

// answerProduce makes kfake answer produce requests that write to a topic
// match accepts with code (for every partition) while refuse says so; it
// returns how many it answered that way.
func answerProduce(k *eventfoldtest.Kafka, match func(topic string) bool, code int16, refuse func() bool) *atomic.Int64 {
	var refused atomic.Int64
	k.Cluster.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		k.Cluster.KeepControl()
		pr := req.(*kmsg.ProduceRequest)
		hit := false
		for _, tp := range pr.Topics {
			hit = hit || match(tp.Topic)
		}
		if !hit || !refuse() {
			return nil, nil, false
		}
		refused.Add(1)
		resp := pr.ResponseKind().(*kmsg.ProduceResponse)
		for _, tp := range pr.Topics {
			rt := kmsg.NewProduceResponseTopic()
			rt.Topic = tp.Topic
			for _, p := range tp.Partitions {
				rp := kmsg.NewProduceResponseTopicPartition()
				rp.Partition = p.Partition
				rp.ErrorCode = code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil, true
	})
	return &refused
}

func isTable(topic string) bool { return strings.HasSuffix(topic, "-table") }

// A rejected event at partition offset 0 whose dead letter could not be
// written comes back and is dead-lettered then: a never-applied envelope
// used to keep offset 0, so the redelivery looked "already applied" and
// the event vanished without a dead letter.
func TestRejectedEventAtOffsetZeroIsDeadLetteredAfterAFailedWrite(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	sc := eventfoldtest.SaramaConfig()
	sc.Producer.Retry.Max = 1 // give up fast: the partition fails and the event comes back
	sc.Producer.Retry.BackoffFunc = nil
	sc.Producer.Retry.Backoff = 10 * time.Millisecond
	var refusals atomic.Int64
	refusals.Store(6)
	refused := refuseProduce(k, "notes-events-dlq", func() bool { return refusals.Add(-1) >= 0 })
	r := startNotes(t, k.Brokers, t.TempDir(), processor.WithSaramaConfig(sc))
	pos := produce(t, k.Brokers, []kafka.Record{noteRecord(t, "z", "")})
	if pos[0].Offset != 0 {
		t.Fatalf("the event landed at offset %d, the test needs 0", pos[0].Offset)
	}
	var dl map[string]*sarama.ConsumerMessage
	eventfoldtest.Eventually(t, 60*time.Second, func() error {
		dl = deadLetters(t, k.Brokers, "notes-events-dlq")
		if len(dl) != 1 {
			return fmt.Errorf("%d dead letters, want 1 (%d writes refused)", len(dl), refused.Load())
		}
		return nil
	})
	if refused.Load() == 0 {
		t.Fatal("no dead-letter write was refused: the test tested nothing")
	}
	if _, ok := dl[posID(pos[0])]; !ok {
		t.Errorf("dead letters %v, none for %v", dl, pos[0])
	}
	produce(t, k.Brokers, []kafka.Record{noteRecord(t, "z", "then this")})
	waitVersions(t, r.Processor, "notes", map[string]uint64{"z": 1})
	page, err := r.History(context.Background(), "notes", "z", -1, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Events) != 2 || page.Events[0].Offset != 0 || page.Events[0].Applied || !page.Events[1].Applied {
		t.Errorf("history %+v, want offset 0 rejected then one applied", page.Events)
	}
}

// When a key's newest event was rejected, a redelivery (a crash, a
// rebalance that did not commit) must neither index it in the history
// again nor dead-letter it again.
func TestRedeliveredRejectedEventIsNotIndexedOrDeadLetteredAgain(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	dir := t.TempDir()
	r := startNotes(t, k.Brokers, dir)
	pos := produce(t, k.Brokers, []kafka.Record{noteRecord(t, "r", "one"), noteRecord(t, "r", "")})
	waitVersions(t, r.Processor, "notes", map[string]uint64{"r": 1})
	waitDeadLetters(t, k.Brokers, "notes-events-dlq", 1)
	r.stop(t)

	for _, tc := range []struct{ name, dir string }{{"local table", dir}, {"changelog only", t.TempDir()}} {
		t.Run(tc.name, func(t *testing.T) {
			resetOffsets(t, k.Brokers, "eventfold-notes", "notes-events", 2)
			reg := prometheus.NewRegistry()
			r := startNotes(t, k.Brokers, tc.dir, processor.WithRegisterer(reg))
			eventfoldtest.Eventually(t, 30*time.Second, func() error {
				if n := metricSum(t, reg, "eventfold_processor_events_redelivered_total"); n < 2 {
					return fmt.Errorf("%v of 2 events redelivered", n)
				}
				return nil
			})
			if n := metricSum(t, reg, "eventfold_processor_dead_letters_total"); n != 0 {
				t.Errorf("%v events dead-lettered again", n)
			}
			page, err := r.History(context.Background(), "notes", "r", -1, 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Events) != 2 || !page.Events[0].Applied || page.Events[1].Applied || page.Events[1].Offset != pos[1].Offset {
				t.Errorf("history %+v, want [applied, rejected]", page.Events)
			}
			if n := len(deadLetters(t, k.Brokers, "notes-events-dlq")); n != 1 {
				t.Errorf("%d dead letters, want 1", n)
			}
			r.stop(t)
		})
	}
}

// changelogBytes sums the value bytes the table's changelog holds for key.
func changelogBytes(t *testing.T, brokers []string, topic, key string) (int, int) {
	t.Helper()
	msgs, err := kafka.ReadAll(context.Background(), brokers, eventfoldtest.SaramaConfig(), topic)
	if err != nil {
		t.Fatal(err)
	}
	total, n := 0, 0
	for _, m := range msgs {
		if string(m.Key) == key {
			total += len(m.Value)
			n++
		}
	}
	return total, n
}

// A command's events are folded aside without a state per event: a
// 100-event command on a growing state writes O(N) bytes to the changelog
// (it wrote a growing pending state with each event: O(N²)), and past the
// entity's limit a command is refused with 422 too_many_events.
func TestLargeCommandCostsLinearChangelogBytes(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	r := startNotes(t, k.Brokers, t.TempDir())
	ctx := eventfoldtest.Context(t, time.Minute)
	texts := make([]string, limits.EventsPerCommand)
	for i := range texts {
		texts[i] = fmt.Sprintf("%04d-%s", i, strings.Repeat("n", 2000))
	}
	cmd := func(texts []string) []byte {
		return []byte(`{"type":"NoteMany","texts":["` + strings.Join(texts, `","`) + `"]}`)
	}
	res, err := r.Execute(ctx, "notes", "long", cmd(texts), entity.CommandOptions{})
	if err != nil || res.Version != uint64(len(texts)) {
		t.Fatalf("a command of %d events: %+v, %v", len(texts), res, err)
	}
	finalState := len(res.State)
	var bytes, records int
	eventfoldtest.Eventually(t, 20*time.Second, func() error {
		bytes, records = changelogBytes(t, k.Brokers, "eventfold-notes-table", "long")
		if records < len(texts) {
			return fmt.Errorf("%d changelog records, want %d", records, len(texts))
		}
		return nil
	})
	// Each event writes an envelope with the state before the command (none
	// here) and its bookkeeping; the last one the final state.
	if limit := finalState + len(texts)*1024; bytes > limit {
		t.Errorf("a %d-event command wrote %d changelog bytes in %d records; linear would be under %d (final state %d)",
			len(texts), bytes, records, limit, finalState)
	}
	_, err = r.Execute(ctx, "notes", "long", cmd(append(texts, "one too many")), entity.CommandOptions{})
	if !errors.Is(err, eventfold.ErrTooManyEvents) {
		t.Errorf("a command of %d events: %v, want ErrTooManyEvents", len(texts)+1, err)
	}
}

func noteCmdEvent(t *testing.T, key, id string, expected uint64, i, n int, text string) kafka.Record {
	rec := noteRecord(t, key, text)
	rec.Headers = []sarama.RecordHeader{
		{Key: []byte(processor.HeaderCommandID), Value: []byte(id)},
		{Key: []byte(processor.HeaderExpectedVersion), Value: []byte(fmt.Sprint(expected))},
		{Key: []byte(processor.HeaderBatch), Value: []byte(fmt.Sprintf("%d/%d", i, n))},
	}
	return rec
}

// The folded-aside state of an unfinished command lives in memory; a node
// that takes over in the middle of a command (or restarts) rebuilds it from
// the command's events in the topic, on its local table or the changelog.
func TestPendingCommandIsRebuiltFromTheTopicAfterARestart(t *testing.T) {
	for _, keepDir := range []bool{true, false} {
		t.Run(fmt.Sprintf("keep data dir %v", keepDir), func(t *testing.T) {
			k := eventfoldtest.NewKafka(t, 1)
			dir := t.TempDir()
			r := startNotes(t, k.Brokers, dir)
			produce(t, k.Brokers, []kafka.Record{
				noteRecord(t, "p", "before"),
				noteCmdEvent(t, "p", "cmd-1", 1, 0, 4, "a"),
				noteRecord(t, "q", "other key between"),
				noteCmdEvent(t, "p", "cmd-1", 1, 1, 4, "b"),
				noteCmdEvent(t, "p", "cmd-1", 1, 2, 4, "c"),
			})
			waitVersions(t, r.Processor, "notes", map[string]uint64{"q": 1})
			r.stop(t)
			if !keepDir {
				dir = t.TempDir()
			}
			r = startNotes(t, k.Brokers, dir)
			produce(t, k.Brokers, []kafka.Record{noteCmdEvent(t, "p", "cmd-1", 1, 3, 4, "d")})
			waitVersions(t, r.Processor, "notes", map[string]uint64{"p": 5})
			e, err := r.Get(context.Background(), "notes", "p")
			if err != nil {
				t.Fatal(err)
			}
			if got, want := string(e.State), `{"notes":["before","a","b","c","d"]}`; got != want {
				t.Errorf("state %s, want %s", got, want)
			}
		})
	}
}

// A command batch from another producer longer than the entity allows is
// not applied: the pending bookkeeping of a command is bounded.
func TestCommandBatchOverTheLimitIsNotApplied(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	r := startNotes(t, k.Brokers, t.TempDir())
	n := limits.EventsPerCommand + 1
	var recs []kafka.Record
	for i := 0; i < n; i++ {
		recs = append(recs, noteCmdEvent(t, "huge", "too-long", 0, i, n, fmt.Sprint(i)))
	}
	recs = append(recs, noteRecord(t, "huge", "plain"))
	produce(t, k.Brokers, recs)
	waitVersions(t, r.Processor, "notes", map[string]uint64{"huge": 1})
	e, _ := r.Get(context.Background(), "notes", "huge")
	if string(e.State) != `{"notes":["plain"]}` {
		t.Errorf("state %s: events of the over-long command were applied", e.State)
	}
}

// Decide's events are folded aside on the request goroutine before they
// are appended: an Evolve that panics there is a rejection, not a crash.
func TestEvolvePanicInACommandPreCheckIsARejection(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	r := startNotes(t, k.Brokers, t.TempDir())
	_, err := r.Execute(eventfoldtest.Context(t, 30*time.Second), "notes", "x", []byte(`{"type":"NoteMany","texts":["ok","panic"]}`), entity.CommandOptions{})
	if !errors.Is(err, eventfold.ErrRejected) {
		t.Fatalf("err = %v, want ErrRejected", err)
	}
	if _, n := changelogBytes(t, k.Brokers, "eventfold-notes-table", "x"); n != 0 {
		t.Errorf("%d changelog records for a refused command", n)
	}
}

// A write that can never succeed (here: the broker calls every changelog
// record too large) stops the group with that error at once instead of
// failing, rejoining and failing again for minutes.
func TestPermanentWriteErrorStopsTheGroupInsteadOfLooping(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	answerProduce(k, isTable, kerr.MessageTooLarge.Code, func() bool { return true })
	r := startNotes(t, k.Brokers, t.TempDir())
	produce(t, k.Brokers, []kafka.Record{noteRecord(t, "a", "one")})
	select {
	case err := <-r.done:
		r.cancel, r.done = nil, nil
		if !errors.Is(err, sarama.ErrMessageSizeTooLarge) || !strings.Contains(err.Error(), "never succeed") {
			t.Errorf("Run: %v, want the permanent write error", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the processor still runs a minute after a write that can never succeed")
	}
}

// A retry with the same Idempotency-Key while the first attempt's events
// are still being written must not append the command again: the first
// attempt keeps the key's lock until Kafka answered, even after its caller
// gave up, so the retry finds its events.
func TestRetryWhileTheFirstAttemptIsBeingWrittenAppendsNothing(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	r := startNotes(t, k.Brokers, t.TempDir())
	var held atomic.Bool
	release := make(chan struct{})
	holdProduce(k, "notes-events", func() bool { return !held.Swap(true) }, release, time.Minute)
	ctx := eventfoldtest.Context(t, time.Minute)
	cmd := []byte(`{"type":"NoteMany","texts":["a","b"]}`)
	first := make(chan error, 1)
	ctx1, cancel1 := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel1()
	go func() {
		_, err := r.Execute(ctx1, "notes", "s", cmd, entity.CommandOptions{ID: "slow"})
		first <- err
	}()
	eventfoldtest.Eventually(t, 20*time.Second, func() error {
		if !held.Load() {
			return errors.New("the first attempt's events have not reached the broker")
		}
		return nil
	})
	<-ctx1.Done() // its caller gave up while the write is in flight
	type answer struct {
		res entity.CommandResult
		err error
	}
	retry := make(chan answer, 1)
	go func() {
		res, err := r.Execute(ctx, "notes", "s", cmd, entity.CommandOptions{ID: "slow"})
		retry <- answer{res, err}
	}()
	// Give a wrong retry the time to decide and append again (it cannot
	// answer: its records queue behind the held ones); a right one waits
	// for the first attempt's lock meanwhile.
	select {
	case a := <-retry:
		t.Fatalf("the retry answered while the first attempt was being written: %+v, %v", a.res, a.err)
	case <-time.After(time.Second):
	}
	close(release)
	if err := <-first; err == nil {
		t.Log("the first attempt still answered") // possible if the fold was quick; not what is tested
	}
	a := <-retry
	if a.err != nil || !a.res.Duplicate || a.res.Events != 0 || a.res.Version != 2 {
		t.Fatalf("retry: %+v, %v; want the first attempt's result", a.res, a.err)
	}
	msgs, err := kafka.ReadAll(ctx, k.Brokers, eventfoldtest.SaramaConfig(), "notes-events")
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 {
		t.Fatalf("%d events in the topic, want the command's 2 once", len(msgs))
	}
}

// WithoutHistory keeps no index: the fold rules are the same (plain and
// command events, dead letters, no double application on redelivery), and
// history queries say history is off.
func TestWithoutHistoryFoldsTheSame(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	r := startNotes(t, k.Brokers, dir, processor.WithoutHistory(), processor.WithRegisterer(reg))
	recs := []kafka.Record{
		noteRecord(t, "h", "one"),
		noteRecord(t, "h", ""), // rejected
		noteCmdEvent(t, "h", "c1", 1, 0, 2, "two"),
		noteCmdEvent(t, "h", "c1", 1, 1, 2, "three"),
		noteCmdEvent(t, "h", "stale", 1, 0, 1, "never"), // decided on version 1, entity at 3
		noteRecord(t, "g", ""),                          // a key that never applies anything
	}
	produce(t, k.Brokers, recs)
	waitVersions(t, r.Processor, "notes", map[string]uint64{"h": 3})
	check := func(r *running) {
		t.Helper()
		e, err := r.Get(context.Background(), "notes", "h")
		if err != nil || string(e.State) != `{"notes":["one","two","three"]}` || e.Version != 3 {
			t.Fatalf("h: %s version %d, %v", e.State, e.Version, err)
		}
		if _, err := r.Get(context.Background(), "notes", "g"); !errors.Is(err, eventfold.ErrNotFound) {
			t.Errorf("g: %v, want ErrNotFound", err)
		}
	}
	check(r)
	if _, err := r.History(context.Background(), "notes", "h", -1, 10); !errors.Is(err, eventfold.ErrInvalid) {
		t.Errorf("History with history off: %v, want ErrInvalid", err)
	}
	waitDeadLetters(t, k.Brokers, "notes-events-dlq", 2)
	r.stop(t)
	resetOffsets(t, k.Brokers, "eventfold-notes", "notes-events", 2)
	reg = prometheus.NewRegistry()
	r = startNotes(t, k.Brokers, dir, processor.WithoutHistory(), processor.WithRegisterer(reg))
	eventfoldtest.Eventually(t, 30*time.Second, func() error {
		seen := metricSum(t, reg, "eventfold_processor_events_redelivered_total") + metricSum(t, reg, "eventfold_processor_dead_letters_total")
		if seen < float64(len(recs)) {
			return fmt.Errorf("%v of %d events seen again", seen, len(recs))
		}
		return nil
	})
	if n := metricSum(t, reg, "eventfold_processor_events_folded_total"); n != 0 {
		t.Errorf("%v events applied a second time", n)
	}
	check(r)
}

// A broker whose record limit is below eventfold's refuses a command's
// events as too large: the command is 422 state_too_large (retrying cannot
// help, so not 503), and the node keeps folding.
func TestCommandRefusedByTheBrokerAsTooLargeIs422(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	r := startNotes(t, k.Brokers, t.TempDir())
	admin, err := sarama.NewClusterAdmin(k.Brokers, eventfoldtest.SaramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	max := "2000"
	if err := admin.IncrementalAlterConfig(sarama.TopicResource, "notes-events", map[string]sarama.IncrementalAlterConfigsEntry{
		"max.message.bytes": {Operation: sarama.IncrementalAlterConfigsOperationSet, Value: &max},
	}, false); err != nil {
		t.Fatal(err)
	}
	noise := make([]byte, 4000)
	_, _ = rand.Read(noise) // random hex: compression cannot bring it under 2000
	_, err = r.Execute(eventfoldtest.Context(t, time.Minute), "notes", "n", []byte(`{"type":"NoteMany","texts":["`+hex.EncodeToString(noise)+`"]}`), entity.CommandOptions{})
	if !errors.Is(err, eventfold.ErrStateTooLarge) {
		t.Fatalf("err = %v, want ErrStateTooLarge", err)
	}
	produce(t, k.Brokers, []kafka.Record{noteRecord(t, "n", "small")})
	waitVersions(t, r.Processor, "notes", map[string]uint64{"n": 1})
}

// An event whose fold fails (its dead letter cannot be written, and
// ctx.Fail ends the callback) is not folded: WaitApplied and a command
// waiting for it must not wake, since the event comes back when the
// partition restarts. (The fold used to mark its offset done on the way
// out of a failed callback; a command could then answer 409 and apply.)
func TestWaitAppliedDoesNotReturnForAnEventWhoseFoldFailed(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	sc := eventfoldtest.SaramaConfig()
	sc.Producer.Retry.Max = 1
	sc.Producer.Retry.BackoffFunc = nil
	sc.Producer.Retry.Backoff = 10 * time.Millisecond
	var refuse atomic.Bool
	refuse.Store(true)
	refused := refuseProduce(k, "notes-events-dlq", refuse.Load)
	r := startNotes(t, k.Brokers, t.TempDir(), processor.WithPartitions(1), processor.WithSaramaConfig(sc))
	pos := produce(t, k.Brokers, []kafka.Record{noteRecord(t, "a", "one"), noteRecord(t, "a", "")})
	eventfoldtest.Eventually(t, 30*time.Second, func() error {
		if refused.Load() == 0 {
			return errors.New("no dead letter refused yet")
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	err := r.WaitApplied(ctx, "notes", "a", pos[1].Offset)
	cancel()
	if err == nil {
		t.Errorf("WaitApplied(%d) returned while the event's fold fails (%d dead-letter writes refused)", pos[1].Offset, refused.Load())
	}
	refuse.Store(false)
	waitDeadLetters(t, k.Brokers, "notes-events-dlq", 1)
	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.WaitApplied(ctx, "notes", "a", pos[1].Offset); err != nil {
		t.Errorf("WaitApplied after the dead letter was written: %v", err)
	}
}

// holdProduce makes kfake hold produce requests to topic while hold says
// so, until release is closed or for at most d (a slow broker: a held
// request also holds the producer's Close); it returns how many it held.
func holdProduce(k *eventfoldtest.Kafka, topic string, hold func() bool, release <-chan struct{}, d time.Duration) *atomic.Int64 {
	var held atomic.Int64
	k.Cluster.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		k.Cluster.KeepControl()
		for _, tp := range req.(*kmsg.ProduceRequest).Topics {
			if tp.Topic == topic && hold() {
				held.Add(1)
				k.Cluster.SleepControl(func() {
					select {
					case <-release:
					case <-time.After(d):
					}
				})
				break
			}
		}
		return nil, nil, false
	})
	return &held
}

// An event whose dead letter is still being written when its partition
// stops (a rebalance, a shutdown) must come back: goka does not panic out
// of ctx.Fail on a stopping partition, and then marks the message done as
// if it had been folded. It used to: the committed offset passed the
// event, no node ever folded it again, and the history (and the dead-letter
// topic) lost it while state and version stayed right.
func TestEventCutShortByAStoppingPartitionIsFoldedAgain(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	dir := t.TempDir()
	var holding atomic.Bool
	release := make(chan struct{})
	releaseOnce := sync.OnceFunc(func() { close(release) })
	defer releaseOnce()
	held := holdProduce(k, "notes-events-dlq", holding.Load, release, 3*time.Second)
	r := startNotes(t, k.Brokers, dir)
	pos := produce(t, k.Brokers, []kafka.Record{noteRecord(t, "s", "one")})
	waitVersions(t, r.Processor, "notes", map[string]uint64{"s": 1})
	holding.Store(true)
	pos = append(pos, produce(t, k.Brokers, []kafka.Record{noteRecord(t, "s", "")})...) // rejected: a dead letter
	eventfoldtest.Eventually(t, 30*time.Second, func() error {
		if held.Load() == 0 {
			return fmt.Errorf("no dead-letter write held yet")
		}
		return nil
	})
	r.stop(t) // the partition stops while its dead letter is in flight
	holding.Store(false)
	releaseOnce()

	if next := committed(t, k.Brokers, "eventfold-notes", "notes-events", pos[1].Partition); next > pos[1].Offset {
		t.Errorf("the group committed %d, past the event at %d that was never folded", next, pos[1].Offset)
	}
	r = startNotes(t, k.Brokers, dir)
	pos = append(pos, produce(t, k.Brokers, []kafka.Record{noteRecord(t, "s", "three")})...)
	waitVersions(t, r.Processor, "notes", map[string]uint64{"s": 2})
	page, err := r.History(context.Background(), "notes", "s", -1, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range page.Events {
		got = append(got, fmt.Sprintf("%d/%d %v", e.Partition, e.Offset, e.Applied))
	}
	want := []string{posID(pos[0]) + " true", posID(pos[1]) + " false", posID(pos[2]) + " true"}
	if !slices.Equal(got, want) {
		t.Errorf("history %v, want %v", got, want)
	}
	// The letter held when the partition stopped may land too: at least
	// once, and every one names the event.
	msgs, err := kafka.ReadAll(context.Background(), k.Brokers, eventfoldtest.SaramaConfig(), "notes-events-dlq")
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) == 0 || len(msgs) > 2 {
		t.Errorf("%d dead letters, want 1 or 2", len(msgs))
	}
	for _, m := range msgs {
		if h := headers(m); h[processor.HeaderSourcePartition]+"/"+h[processor.HeaderSourceOffset] != posID(pos[1]) {
			t.Errorf("a dead letter for %s/%s, want %s", h[processor.HeaderSourcePartition], h[processor.HeaderSourceOffset], posID(pos[1]))
		}
	}
}

// committed returns the group's committed offset of topic/partition (-1:
// none).
func committed(t *testing.T, brokers []string, group, topic string, partition int32) int64 {
	t.Helper()
	admin, err := sarama.NewClusterAdmin(brokers, eventfoldtest.SaramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	resp, err := admin.ListConsumerGroupOffsets(group, map[string][]int32{topic: {partition}})
	if err != nil {
		t.Fatal(err)
	}
	b := resp.GetBlock(topic, partition)
	if b == nil {
		return -1
	}
	return b.Offset
}
