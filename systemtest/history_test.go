package systemtest

import (
	"fmt"
	"testing"
	"time"

	"github.com/eventfold/eventfold/kafka"
	"github.com/eventfold/eventfold/systemtest/checker"
)

// docs/history.md: "Redelivered events are skipped before indexing (same
// offset rule as the fold), so an event is indexed once." Kill -9 a node
// right after it folded events that were not applied (a second UserCreated
// per user), so that Kafka redelivers them: every history must still list
// each event once, with the fold's applied flags and versions.
func TestHistoryAfterRedelivery(t *testing.T) {
	needKafka(t)
	app := uniqueApp("redeliver")
	n1 := newProc(t, app, "n1")
	n1.start(t)
	waitReady(t, 90*time.Second, n1)
	pr, err := kafka.NewProducer(brokers, saramaConfig(), kafka.FNV1a)
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	acks := newAcks(t)
	const users = 200
	var recs []kafka.Record
	for i := 0; i < users; i++ {
		id := fmt.Sprintf("u-%03d", i)
		v := []byte(fmt.Sprintf(`{"type":"UserCreated","name":"user %d","email":"%d@example.com"}`, i, i))
		recs = append(recs, kafka.Record{Topic: app + "-users-events", Key: id, Value: v}, kafka.Record{Topic: app + "-users-events", Key: id, Value: v})
	}
	pos, err := pr.SendAll(ctxFor(t, time.Minute), recs)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		if err := acks.Record(checker.Ack{Topic: r.Topic, Key: r.Key, Partition: pos[i].Partition, Offset: pos[i].Offset, SHA256: checker.Hash(r.Value)}); err != nil {
			t.Fatal(err)
		}
	}
	// Folded up to the last event of every partition, then killed before
	// the next offset commit.
	lastOf := map[int32]int{}
	for i, p := range pos {
		lastOf[p.Partition] = i
	}
	for _, i := range lastOf {
		waitStatus(t, time.Minute, n1.url+fmt.Sprintf("/v1/users/%s?min_offset=%d", recs[i].Key, pos[i].Offset))
	}
	n1.kill9()
	if err := n1.launch(); err != nil {
		t.Fatal(err)
	}
	waitReady(t, 90*time.Second, n1)
	fold, rep := verify(t, app, acks, []*proc{n1}, time.Minute)
	h := fold.CheckHistory(ctxFor(t, 2*time.Minute), checkerNodes([]*proc{n1}), users, 2)
	report(t, "| history after kill -9 and redelivery | %d users, 2 events each (the second not applied), node killed right after folding them | — | histories of %d users: %d mismatched, %d errors; %s |",
		users, h.Entities, len(h.Mismatched), len(h.Errors), summary(rep))
	for i, l := range [][]checker.Finding{h.Mismatched, h.Errors} {
		for j, f := range l {
			if j == 3 {
				break
			}
			t.Errorf("%s", f)
		}
		if len(l) > 0 {
			t.Errorf("%d of %d histories %s", len(l), h.Entities, []string{"differ from the fold", "could not be read"}[i])
		}
	}
}
