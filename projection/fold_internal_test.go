package projection

import (
	"errors"
	"testing"

	"github.com/eventfold/eventfold/entity"
)

// The watermark rule of docs/projections.md on one key: an input applies
// only above the watermark of its source partition, ordered by offset
// then index; other source partitions have their own.
func TestDedupeAppliesEachOriginOnce(t *testing.T) {
	sum := dedupe(func(s int, in int) (int, error) { return s + in, nil })
	o := func(e string, p int32, x int64, i int) *Origin {
		return &Origin{Entity: e, Partition: p, Offset: x, Index: i}
	}
	steps := []struct {
		origin  *Origin
		applied bool
	}{
		{o("orders", 0, 10, 0), true},
		{o("orders", 0, 10, 1), true},  // the same event's second input
		{o("orders", 0, 10, 1), false}, // a copy
		{o("orders", 0, 10, 0), false}, // an earlier one again (a replay)
		{o("orders", 1, 5, 0), true},   // another source partition: its own watermark
		{o("users", 0, 3, 0), true},    // another source entity
		{o("orders", 0, 9, 7), false},  // below by offset, above by index
		{o("orders", 0, 11, 0), true},
		{o("orders", 1, 5, 0), false},
	}
	var s stored[int]
	want := 0
	for i, st := range steps {
		next, err := sum(s, input[int]{Origin: st.origin, In: 1})
		switch {
		case st.applied && err != nil:
			t.Fatalf("step %d %+v: %v, want applied", i, *st.origin, err)
		case !st.applied && !errors.Is(err, entity.ErrSkip):
			t.Fatalf("step %d %+v: %v, want ErrSkip", i, *st.origin, err)
		}
		if err == nil {
			s = next
			want++
		}
		if s.State != want {
			t.Fatalf("step %d: state %d, want %d", i, s.State, want)
		}
	}
	if len(s.Seen) != 3 {
		t.Fatalf("watermarks %v, want one per source partition (3)", s.Seen)
	}
}

// A record another producer wrote into the repartition topic has no
// origin: it does not decode (a dead letter), it is never folded.
func TestInputWithoutOriginDoesNotDecode(t *testing.T) {
	for _, raw := range []string{`{"in":1}`, `{"o":{"e":"","p":0,"x":1,"i":0},"in":1}`, `{"o":{"e":"orders","p":-1,"x":1,"i":0},"in":1}`, `not json`} {
		if _, err := (inputCodec[int]{}).Decode([]byte(raw)); err == nil {
			t.Errorf("%s decoded", raw)
		}
	}
	if in, err := (inputCodec[int]{}).Decode([]byte(`{"o":{"e":"orders","p":2,"x":7,"i":1},"in":5}`)); err != nil || in.In != 5 || in.Origin.Offset != 7 {
		t.Errorf("a proper input: %+v, %v", in, err)
	}
}
