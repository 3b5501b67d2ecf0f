package table

import (
	"encoding/binary"
	"fmt"
	"reflect"
	"testing"
	"time"
)

func TestEnvelopeRoundTrip(t *testing.T) {
	at := time.UnixMilli(1_700_000_000_123).UTC()
	for _, e := range []Envelope{
		{State: []byte(`{"a":1}`), Version: 7, Partition: 3, Offset: 99, UpdatedAt: at},
		{State: []byte{}, Version: 1, Partition: 0, Offset: 0, UpdatedAt: at},
		{State: []byte("s"), Version: 3, Partition: 11, Offset: 1 << 40, UpdatedAt: at,
			Commands: []CommandRecord{{ID: "c1", Version: 2, Offset: 5}, {ID: "c2", Version: 3, Offset: 9, Fingerprint: 1<<63 + 5}}, Seen: 12},
		{State: []byte("s"), Version: 3, Partition: 1, Offset: 10, UpdatedAt: at, Seen: 14,
			Pending: &PendingCommand{ID: "c3", Expected: 3, Next: 2, N: 3, Offset: 14, Offsets: []int64{11, 14}}},
		{State: []byte{}, Version: 0, Partition: 0, Offset: 0, UpdatedAt: time.UnixMilli(0).UTC(), Seen: -1},
		{State: []byte("s"), Version: 3, Partition: 1, Offset: 10, UpdatedAt: at,
			Index: &Index{Entries: []IndexEntry{{Offset: 4, Time: 5, Applied: true}, {Offset: 9, Time: 6}},
				Levels: [][]IndexPointer{{{Partition: 1, Offset: 2, Before: 3, Applied: 4, Events: 5, First: 6, FirstOff: 7}}, {}}}},
		{State: []byte("s"), Version: 0, Partition: 1, Offset: 10, UpdatedAt: at, Index: &Index{Entries: []IndexEntry{}, Levels: nil}},
		// Deltas: clocks going backwards, offsets far apart, every outcome.
		{State: []byte("s"), Version: 2, Partition: 1, Offset: 1 << 50, UpdatedAt: at,
			Index: &Index{Entries: []IndexEntry{
				{Offset: 1 << 40, Time: 1_700_000_000_000, Applied: true},
				{Offset: 1<<40 + 1, Time: 1_600_000_000_000},
				{Offset: 1 << 50, Time: 1_700_000_000_001, Pending: true},
				{Offset: 1<<50 + 7, Time: 0, Applied: true},
			}}},
	} {
		b, err := e.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var got Envelope
		if err := got.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, e) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, e)
		}
	}
}

func TestEnvelopeRejectsGarbage(t *testing.T) {
	for _, b := range [][]byte{nil, {0xEF}, {0x00, 0x01}, {0xEF, 0x09, 1}, {0xEF, 0x02, 1, 0, 0, 0, 5, 0xff}} {
		var e Envelope
		if err := e.UnmarshalBinary(b); err == nil {
			t.Errorf("UnmarshalBinary(%x) accepted", b)
		}
	}
}

// legacyEnvelope writes formats 2 and 3 as eventfold did before format 4,
// to show that tables written then are still read.
func legacyEnvelope(e *Envelope) []byte {
	format := byte(envFormat2)
	if e.Index != nil {
		format = envFormat3
	}
	buf := []byte{envMagic, format}
	buf = binary.AppendUvarint(buf, e.Version)
	buf = binary.AppendVarint(buf, int64(e.Partition))
	buf = binary.AppendVarint(buf, e.Offset)
	buf = binary.AppendVarint(buf, e.UpdatedAt.UnixMilli())
	buf = binary.AppendUvarint(buf, uint64(len(e.Commands)))
	for _, c := range e.Commands {
		buf = appendBytes(buf, []byte(c.ID))
		buf = binary.AppendUvarint(buf, c.Version)
		buf = binary.AppendVarint(buf, c.Offset)
	}
	if p := e.Pending; p != nil {
		buf = append(buf, 1)
		buf = appendBytes(buf, []byte(p.ID))
		buf = binary.AppendUvarint(buf, p.Expected)
		buf = binary.AppendUvarint(buf, uint64(p.Next))
		buf = binary.AppendUvarint(buf, uint64(p.N))
		buf = binary.AppendVarint(buf, p.Offset)
		buf = appendBytes(buf, p.State)
	} else {
		buf = append(buf, 0)
	}
	if e.Index != nil {
		buf = appendIndex(buf, e.Index)
	}
	return append(buf, e.State...)
}

func TestEnvelopeReadsEarlierFormats(t *testing.T) {
	at := time.UnixMilli(1_700_000_000_123).UTC()
	for _, tc := range []struct {
		name     string
		in       Envelope
		wantSeen int64
	}{
		{"applied", Envelope{State: []byte("s"), Version: 2, Offset: 40, UpdatedAt: at, Commands: []CommandRecord{{ID: "c", Version: 2, Offset: 40}}}, 40},
		{"pending with its state", Envelope{State: []byte("s"), Version: 2, Offset: 40, UpdatedAt: at,
			Pending: &PendingCommand{ID: "p", Expected: 2, Next: 1, N: 2, Offset: 45, State: []byte("aside")}}, 45},
		// Never applied anything, one rejected event at offset 0 indexed:
		// offset 0 was folded, and nothing before it.
		{"only a rejected event", Envelope{State: []byte{}, UpdatedAt: at, Index: &Index{Entries: []IndexEntry{{Offset: 0, Time: 1}}}}, 0},
		{"rejected after applied", Envelope{State: []byte("s"), Version: 1, Offset: 3, UpdatedAt: at,
			Index: &Index{Entries: []IndexEntry{{Offset: 3, Time: 1, Applied: true}, {Offset: 9, Time: 2}}}}, 9},
		{"nothing", Envelope{State: []byte{}, UpdatedAt: at}, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got Envelope
			if err := got.UnmarshalBinary(legacyEnvelope(&tc.in)); err != nil {
				t.Fatal(err)
			}
			if got.Seen != tc.wantSeen {
				t.Errorf("Seen = %d, want %d", got.Seen, tc.wantSeen)
			}
			want := tc.in
			want.Seen = tc.wantSeen
			if want.Commands == nil {
				want.Commands = got.Commands // nil and empty decode alike
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("decoded\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

// A command missing from a full window of newer records may have applied
// and been forgotten; one that the window still covers did not apply.
func TestEnvelopeForgets(t *testing.T) {
	var e Envelope
	for i := 0; i < MaxCommandRecords; i++ {
		e.Commands = append(e.Commands, CommandRecord{ID: fmt.Sprint(i), Offset: int64(100 + i)})
	}
	for _, tc := range []struct {
		offset int64
		want   bool
	}{{99, true}, {100, false}, {150, false}} {
		if got := e.Forgets(tc.offset); got != tc.want {
			t.Errorf("Forgets(%d) = %v, want %v", tc.offset, got, tc.want)
		}
	}
	e.Commands = e.Commands[1:]
	if e.Forgets(0) {
		t.Error("a window with room forgets nothing")
	}
}
