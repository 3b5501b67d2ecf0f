package table

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/eventfold/eventfold/limits"
)

// Envelope is the value stored per entity in the table: the encoded state
// and where it came from.
type Envelope struct {
	State     []byte    // encoded with the entity's state codec
	Version   uint64    // number of events applied
	Partition int32     // partition of the last applied event
	Offset    int64     // offset of the last applied event
	UpdatedAt time.Time // timestamp of the last applied event (ms precision)
	// Seen is the offset of the last event folded for this key, applied or
	// not (-1: none). An event at or below it is a redelivery: a rejected
	// event is neither dead-lettered nor indexed twice, and an entity that
	// never applied anything does not take offset 0 as done.
	Seen int64

	// Commands are the most recent commands applied, with the version each
	// produced: a retried command (same id) is answered from here.
	Commands []CommandRecord
	// Pending is a command whose first events arrived but not its last:
	// its events are folded aside and applied all at once.
	Pending *PendingCommand
	// Index is the open part of the entity's history index (docs/history.md).
	Index *Index
}

// Index is the open part of an entity's history tree: the newest events,
// and per level the pointers to sealed nodes in the history topic.
type Index struct {
	Entries []IndexEntry     // events not yet sealed into a level-0 node
	Levels  [][]IndexPointer // Levels[l]: sealed level-l nodes not yet under a level-(l+1) node
}

// IndexEntry is one event of the entity.
type IndexEntry struct {
	Offset  int64
	Time    int64 // record timestamp, unix ms
	Applied bool
	// Pending: folded aside in the entity's pending command (its outcome
	// is not known yet).
	Pending bool
}

// entryPending is a pending entry's outcome bits in the stored form.
const entryPending = 2

// IndexPointer points at a sealed node and summarises its subtree.
type IndexPointer struct {
	Partition int32  // of the history topic
	Offset    int64  // of the history topic
	Before    uint64 // applied events before the subtree (its starting version)
	Applied   uint64 // applied events in the subtree
	Events    uint64 // events in the subtree
	First     int64  // timestamp of its first event, unix ms
	FirstOff  int64  // offset of its first event
}

// CommandRecord is a command applied to the entity.
type CommandRecord struct {
	ID      string
	Version uint64 // the version after its last event
	Offset  int64  // offset of its last event
	// Fingerprint identifies the request that carried the command (0:
	// unknown), so an Idempotency-Key reused for another request is
	// refused instead of answered with the first result.
	Fingerprint uint64
}

// PendingCommand is a command batch in progress. It holds where its events
// are, not the state they fold to: a state per event made an N-event
// command cost O(N²) bytes in the changelog. The folded-aside state lives
// in memory and is rebuilt from the events topic when it is not there.
type PendingCommand struct {
	ID       string
	Expected uint64  // version the command was decided on
	Next     int     // index of the next event expected
	N        int     // events in the command
	Offset   int64   // offset of the last folded event
	Offsets  []int64 // offsets of events 0..Next-1
	// State is the state after events 0..Next-1, kept only for a command
	// that began under an eventfold before format 4 (whose envelopes held
	// no offsets to rebuild it from); nil otherwise.
	State []byte
}

// MaxCommandRecords bounds the per-entity memory of applied commands.
const MaxCommandRecords = 16

// The stored form is binary so that any state codec fits and the fold does
// not pay for a second JSON pass:
//
//	0xEF 0x01 uvarint(version) varint(partition) varint(offset) varint(updated_at unix ms) state...
//	0xEF 0x02 <the same four fields> uvarint(#commands) {str(id) uvarint(version) varint(offset)}...
//	          uvarint(has pending) [str(id) uvarint(expected) uvarint(next) uvarint(n) varint(offset) bytes(state)] state...
//
// Format 1 is written while an entity has no command history.
//
//	0xEF 0x03 <format 2 fields> uvarint(#entries) {uvarint(zigzag(offset delta)<<2 | outcome) varint(time delta)}...
//	          uvarint(#levels) {uvarint(#pointers) {varint(partition) varint(offset) uvarint(before)
//	          uvarint(applied) uvarint(events) varint(first) varint(first offset)}...}... state...
//
// Format 4 is what eventfold writes now; formats 1-3 are still read.
//
//	0xEF 0x04 uvarint(version) varint(partition) varint(offset) varint(updated_at unix ms) varint(seen)
//	          uvarint(#commands) {str(id) uvarint(version) varint(offset) uvarint(fingerprint)}...
//	          byte(has pending) [str(id) uvarint(expected) uvarint(next) uvarint(n) varint(offset)
//	                             uvarint(#offsets) {varint(offset delta)}... byte(has state) [bytes(state)]]
//	          byte(has index) [<index as in format 3>] state...
const (
	envMagic    = 0xEF
	envFormat1  = 0x01
	envFormat2  = 0x02
	envFormat3  = 0x03
	envFormat4  = 0x04
	maxEnvField = 1 << 20
	MaxLevels   = 16
)

var errEnvelope = errors.New("table: malformed envelope")

// MarshalBinary encodes e in the newest format.
func (e *Envelope) MarshalBinary() ([]byte, error) {
	size := 3 + 5*binary.MaxVarintLen64 + len(e.State)
	if e.Index != nil {
		size += 8*len(e.Index.Entries) + 64
	}
	buf := make([]byte, 0, size)
	buf = append(buf, envMagic, envFormat4)
	buf = binary.AppendUvarint(buf, e.Version)
	buf = binary.AppendVarint(buf, int64(e.Partition))
	buf = binary.AppendVarint(buf, e.Offset)
	buf = binary.AppendVarint(buf, e.UpdatedAt.UnixMilli())
	buf = binary.AppendVarint(buf, e.Seen)
	buf = binary.AppendUvarint(buf, uint64(len(e.Commands)))
	for _, c := range e.Commands {
		buf = appendBytes(buf, []byte(c.ID))
		buf = binary.AppendUvarint(buf, c.Version)
		buf = binary.AppendVarint(buf, c.Offset)
		buf = binary.AppendUvarint(buf, c.Fingerprint)
	}
	if p := e.Pending; p != nil {
		buf = append(buf, 1)
		buf = appendBytes(buf, []byte(p.ID))
		buf = binary.AppendUvarint(buf, p.Expected)
		buf = binary.AppendUvarint(buf, uint64(p.Next))
		buf = binary.AppendUvarint(buf, uint64(p.N))
		buf = binary.AppendVarint(buf, p.Offset)
		buf = binary.AppendUvarint(buf, uint64(len(p.Offsets)))
		var prev int64
		for _, o := range p.Offsets {
			buf = binary.AppendVarint(buf, o-prev)
			prev = o
		}
		if p.State != nil {
			buf = append(buf, 1)
			buf = appendBytes(buf, p.State)
		} else {
			buf = append(buf, 0)
		}
	} else {
		buf = append(buf, 0)
	}
	if e.Index != nil {
		buf = append(buf, 1)
		buf = appendIndex(buf, e.Index)
	} else {
		buf = append(buf, 0)
	}
	buf = append(buf, e.State...)
	return buf, nil
}

func appendIndex(buf []byte, ix *Index) []byte {
	// Entries are deltas from the previous entry (the first from zero), the
	// outcome in the two low bits of the offset delta: the open entries are
	// rewritten with every event, so each byte here is paid per event.
	buf = binary.AppendUvarint(buf, uint64(len(ix.Entries)))
	var prevOff, prevTime int64
	for _, en := range ix.Entries {
		var flag uint64
		switch {
		case en.Pending:
			flag = entryPending
		case en.Applied:
			flag = 1
		}
		buf = binary.AppendUvarint(buf, zigzag(en.Offset-prevOff)<<2|flag)
		buf = binary.AppendVarint(buf, en.Time-prevTime)
		prevOff, prevTime = en.Offset, en.Time
	}
	buf = binary.AppendUvarint(buf, uint64(len(ix.Levels)))
	for _, level := range ix.Levels {
		buf = appendPointers(buf, level)
	}
	return buf
}

func appendPointers(buf []byte, ps []IndexPointer) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(ps)))
	for _, p := range ps {
		buf = binary.AppendVarint(buf, int64(p.Partition))
		buf = binary.AppendVarint(buf, p.Offset)
		buf = binary.AppendUvarint(buf, p.Before)
		buf = binary.AppendUvarint(buf, p.Applied)
		buf = binary.AppendUvarint(buf, p.Events)
		buf = binary.AppendVarint(buf, p.First)
		buf = binary.AppendVarint(buf, p.FirstOff)
	}
	return buf
}

func (r *reader) entries() []IndexEntry {
	n := r.uvarint()
	if n > maxEnvField/3 || n > uint64(len(r.rest)) {
		r.err = errEnvelope
		return nil
	}
	out := make([]IndexEntry, 0, n)
	var prevOff, prevTime int64
	for i := uint64(0); i < n && r.err == nil; i++ {
		v := r.uvarint()
		prevOff += unzigzag(v >> 2)
		prevTime += r.varint()
		e := IndexEntry{Offset: prevOff, Time: prevTime}
		switch v & 3 {
		case 1:
			e.Applied = true
		case entryPending:
			e.Pending = true
		case 3:
			r.err = errEnvelope
		}
		out = append(out, e)
	}
	return out
}

func zigzag(d int64) uint64   { return uint64(d<<1) ^ uint64(d>>63) }
func unzigzag(u uint64) int64 { return int64(u>>1) ^ -int64(u&1) }

func (r *reader) pointers() []IndexPointer {
	n := r.uvarint()
	if n > maxEnvField/7 || n > uint64(len(r.rest)) {
		r.err = errEnvelope
		return nil
	}
	out := make([]IndexPointer, 0, n)
	for i := uint64(0); i < n && r.err == nil; i++ {
		out = append(out, IndexPointer{Partition: int32(r.varint()), Offset: r.varint(), Before: r.uvarint(),
			Applied: r.uvarint(), Events: r.uvarint(), First: r.varint(), FirstOff: r.varint()})
	}
	return out
}

func (r *reader) index() *Index {
	ix := &Index{Entries: r.entries()}
	n := r.uvarint()
	if n > MaxLevels {
		r.err = errEnvelope
		return nil
	}
	for i := uint64(0); i < n && r.err == nil; i++ {
		ix.Levels = append(ix.Levels, r.pointers())
	}
	return ix
}

func appendBytes(buf, b []byte) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(b)))
	return append(buf, b...)
}

// reader decodes the envelope's fields, remembering the first error.
type reader struct {
	rest []byte
	err  error
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.rest)
	if n <= 0 {
		r.err = errEnvelope
		return 0
	}
	r.rest = r.rest[n:]
	return v
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.rest)
	if n <= 0 {
		r.err = errEnvelope
		return 0
	}
	r.rest = r.rest[n:]
	return v
}

func (r *reader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > maxEnvField || n > uint64(len(r.rest)) {
		r.err = errEnvelope
		return nil
	}
	b := r.rest[:n]
	r.rest = r.rest[n:]
	return b
}

// UnmarshalBinary decodes data into e. Byte fields alias data.
func (e *Envelope) UnmarshalBinary(data []byte) error {
	if len(data) < 2 || data[0] != envMagic {
		return errEnvelope
	}
	format := data[1]
	if format < envFormat1 || format > envFormat4 {
		return fmt.Errorf("%w: unknown format %d (written by a newer eventfold?)", errEnvelope, format)
	}
	r := &reader{rest: data[2:]}
	e.Version = r.uvarint()
	e.Partition = int32(r.varint())
	e.Offset = r.varint()
	e.UpdatedAt = time.UnixMilli(r.varint()).UTC()
	e.Seen = -1
	if format == envFormat4 {
		e.Seen = r.varint()
	}
	e.Commands, e.Pending, e.Index = nil, nil, nil
	if format >= envFormat2 {
		n := r.uvarint()
		if n > MaxCommandRecords*4 {
			return errEnvelope
		}
		for i := uint64(0); i < n && r.err == nil; i++ {
			c := CommandRecord{ID: string(r.bytes()), Version: r.uvarint(), Offset: r.varint()}
			if format == envFormat4 {
				c.Fingerprint = r.uvarint()
			}
			e.Commands = append(e.Commands, c)
		}
		if r.flag() {
			p := &PendingCommand{ID: string(r.bytes()), Expected: r.uvarint(), Next: int(r.uvarint()), N: int(r.uvarint()), Offset: r.varint()}
			if format == envFormat4 {
				p.Offsets = r.offsets()
				if r.flag() {
					p.State = r.bytes()
				}
			} else {
				p.State = r.bytes()
			}
			e.Pending = p
		}
	}
	if format == envFormat3 || format == envFormat4 && r.flag() {
		e.Index = r.index()
	}
	if r.err != nil {
		return r.err
	}
	if format < envFormat4 {
		e.Seen = e.lastFolded()
	}
	e.State = r.rest
	return nil
}

// flag reads a 0/1 byte.
func (r *reader) flag() bool {
	if r.err != nil {
		return false
	}
	if len(r.rest) == 0 || r.rest[0] > 1 {
		r.err = errEnvelope
		return false
	}
	b := r.rest[0]
	r.rest = r.rest[1:]
	return b == 1
}

func (r *reader) offsets() []int64 {
	n := r.uvarint()
	if n > limits.MaxEventsPerCommand || n > uint64(len(r.rest)) {
		r.err = errEnvelope
		return nil
	}
	if n == 0 {
		return nil
	}
	out := make([]int64, 0, n)
	var prev int64
	for i := uint64(0); i < n && r.err == nil; i++ {
		prev += r.varint()
		out = append(out, prev)
	}
	return out
}

// lastFolded derives Seen for envelopes written before format 4: the
// newest offset the envelope knows of, applied, pending or indexed.
func (e *Envelope) lastFolded() int64 {
	seen := int64(-1)
	if e.Version > 0 {
		seen = e.Offset
	}
	if e.Pending != nil {
		seen = max(seen, e.Pending.Offset)
	}
	if e.Index != nil {
		for _, en := range e.Index.Entries {
			seen = max(seen, en.Offset)
		}
	}
	return seen
}

// Forgets reports whether a command whose last event is at offset could
// have applied and been pushed out of Commands since: the records are full
// and all of them are newer.
func (e *Envelope) Forgets(offset int64) bool {
	return len(e.Commands) >= MaxCommandRecords && e.Commands[0].Offset > offset
}

// Command returns the record of command id, if it was applied recently.
func (e *Envelope) Command(id string) (CommandRecord, bool) {
	for _, c := range e.Commands {
		if c.ID == id {
			return c, true
		}
	}
	return CommandRecord{}, false
}
