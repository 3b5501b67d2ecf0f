package table

import (
	"reflect"
	"testing"
)

// Table values come from the changelog, which anyone with write access to
// the topic can fill: decoding must never panic, and whatever decodes must
// survive a write and a read unchanged.
func FuzzEnvelopeDecode(f *testing.F) {
	seeds := []Envelope{
		{State: []byte(`{"a":1}`), Version: 7, Offset: 99, Seen: 99},
		{State: []byte("s"), Version: 3, Offset: 10, Seen: 14, Commands: []CommandRecord{{ID: "c", Version: 3, Offset: 9, Fingerprint: 5}},
			Pending: &PendingCommand{ID: "p", Expected: 3, Next: 2, N: 3, Offset: 14, Offsets: []int64{11, 14}}},
		{State: []byte{}, Seen: 0, Index: &Index{Entries: []IndexEntry{{Offset: 0, Time: 1}}, Levels: [][]IndexPointer{{{Offset: 3}}}}},
	}
	for _, e := range seeds {
		b, _ := e.MarshalBinary()
		f.Add(b)
		f.Add(legacyFuzzSeed(&e))
	}
	for _, b := range [][]byte{nil, {0xEF}, {0xEF, 0x04}, {0xEF, 0x09, 1}, {0xEF, 0x02, 1, 0, 0, 0, 5, 0xff},
		{0xEF, 0x04, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var e Envelope
		if err := e.UnmarshalBinary(data); err != nil {
			return
		}
		b, err := e.MarshalBinary()
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		var back Envelope
		if err := back.UnmarshalBinary(b); err != nil {
			t.Fatalf("re-read of %x: %v", b, err)
		}
		if len(e.Commands) == 0 {
			e.Commands = back.Commands
		}
		if !reflect.DeepEqual(e, back) {
			t.Fatalf("round trip of %x:\n got %+v\nwant %+v", data, back, e)
		}
	})
}

// legacyFuzzSeed writes format 2 (pending with its state) for the corpus.
func legacyFuzzSeed(e *Envelope) []byte {
	b, _ := e.MarshalBinary()
	if e.Pending == nil || e.Index != nil {
		return b
	}
	b[1] = envFormat2
	return b
}

// History nodes are read back from the history topic.
func FuzzHistoryNode(f *testing.F) {
	f.Add(Node{Leaf: true, Before: 3, Entries: []IndexEntry{{Offset: 5, Time: 6, Applied: true}}, Snapshot: []byte("s")}.MarshalBinary())
	f.Add(Node{Pointers: []IndexPointer{{Partition: 1, Offset: 2, Before: 3, Applied: 4, Events: 5}}}.MarshalBinary())
	f.Add([]byte{0})
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = UnmarshalNode(data) // must not panic or allocate without bound
	})
}
