package processor

import (
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
			Commands: []CommandRecord{{ID: "c1", Version: 2, Offset: 5}, {ID: "c2", Version: 3, Offset: 9}}},
		{State: []byte("s"), Version: 3, Partition: 1, Offset: 10, UpdatedAt: at,
			Pending: &PendingCommand{ID: "c3", Expected: 3, Next: 1, N: 2, State: []byte("p"), Offset: 10}},
		{State: []byte("s"), Version: 3, Partition: 1, Offset: 10, UpdatedAt: at,
			Index: &Index{Entries: []IndexEntry{{Offset: 4, Time: 5, Applied: true}, {Offset: 9, Time: 6}},
				Levels: [][]IndexPointer{{{Partition: 1, Offset: 2, Before: 3, Applied: 4, Events: 5, First: 6, FirstOff: 7}}, {}}}},
		{State: []byte("s"), Version: 0, Partition: 1, Offset: 10, UpdatedAt: at, Index: &Index{Entries: []IndexEntry{}, Levels: nil}},
		// Deltas: clocks going backwards, offsets far apart, every outcome.
		{State: []byte("s"), Version: 2, Partition: 1, Offset: 1 << 50, UpdatedAt: at,
			Index: &Index{Entries: []IndexEntry{
				{Offset: 1 << 40, Time: 1_700_000_000_000, Applied: true},
				{Offset: 1<<40 + 1, Time: 1_600_000_000_000},
				{Offset: 1 << 50, Time: 1_700_000_000_001, flag: entryPending},
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
