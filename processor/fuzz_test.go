package processor

import (
	"reflect"
	"testing"

	"github.com/lovoo/goka"
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

// Command headers come from whoever produced the event.
func FuzzCommandHeaders(f *testing.F) {
	f.Add("id", "3", "0/2", "")
	f.Add("id", "3", "1/1", "ff")
	f.Add("", "3", "0/1", "")
	f.Add("id", "-1", "0/1", "")
	f.Add("id", "3", "2/1", "")
	f.Add("id", "3", "0/0", "")
	f.Add("id", "18446744073709551616", "0/1", "")
	f.Add("id", "3", "0/1", "zz")
	f.Add("id", "3", "99999999999999999999/1", "")
	f.Fuzz(func(t *testing.T, id, expected, batch, fp string) {
		h := goka.Headers{HeaderCommandID: []byte(id), HeaderExpectedVersion: []byte(expected), HeaderBatch: []byte(batch)}
		if fp != "" {
			h[HeaderFingerprint] = []byte(fp)
		}
		c, ok, err := commandHeaders(h)
		if err != nil || !ok {
			return
		}
		if c.n < 1 || c.index < 0 || c.index >= c.n || c.id == "" || len(c.id) > 256 {
			t.Fatalf("accepted %+v from %q %q %q", c, id, expected, batch)
		}
	})
}

// History nodes are read back from the history topic.
func FuzzHistoryNode(f *testing.F) {
	f.Add(node{leaf: true, before: 3, entries: []IndexEntry{{Offset: 5, Time: 6, Applied: true}}, snapshot: []byte("s")}.marshal())
	f.Add(node{pointers: []IndexPointer{{Partition: 1, Offset: 2, Before: 3, Applied: 4, Events: 5}}}.marshal())
	f.Add([]byte{0})
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = unmarshalNode(data) // must not panic or allocate without bound
	})
}
