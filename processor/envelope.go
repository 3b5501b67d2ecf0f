package processor

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Envelope is the value stored per entity in the table: the encoded state
// and where it came from.
type Envelope struct {
	State     []byte    // encoded with the entity's state codec
	Version   uint64    // number of events applied
	Partition int32     // partition of the last applied event
	Offset    int64     // offset of the last applied event
	UpdatedAt time.Time // timestamp of the last applied event (ms precision)

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
	flag    byte // entryPending: folded aside in the pending command
}

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
}

// PendingCommand is a command batch in progress.
type PendingCommand struct {
	ID       string
	Expected uint64 // version the command was decided on
	Next     int    // index of the next event expected
	N        int    // events in the command
	State    []byte // state after events 0..Next-1
	Offset   int64  // offset of the last folded event
}

// maxCommandRecords bounds the per-entity memory of applied commands.
const maxCommandRecords = 16

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
const (
	envMagic    = 0xEF
	envFormat1  = 0x01
	envFormat2  = 0x02
	envFormat3  = 0x03
	maxEnvField = 1 << 20
	maxLevels   = 16
)

var errEnvelope = errors.New("processor: malformed envelope")

// MarshalBinary encodes e.
func (e *Envelope) MarshalBinary() ([]byte, error) {
	format := byte(envFormat1)
	switch {
	case e.Index != nil:
		format = envFormat3
	case len(e.Commands) > 0 || e.Pending != nil:
		format = envFormat2
	}
	size := 2 + 4*binary.MaxVarintLen64 + len(e.State)
	if e.Index != nil {
		size += 8*len(e.Index.Entries) + 64
	}
	buf := make([]byte, 0, size)
	buf = append(buf, envMagic, format)
	buf = binary.AppendUvarint(buf, e.Version)
	buf = binary.AppendVarint(buf, int64(e.Partition))
	buf = binary.AppendVarint(buf, e.Offset)
	buf = binary.AppendVarint(buf, e.UpdatedAt.UnixMilli())
	if format >= envFormat2 {
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
	}
	if format == envFormat3 {
		buf = appendIndex(buf, e.Index)
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
		case en.flag == entryPending:
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
			e.flag = entryPending
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
	if n > maxLevels {
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
	if format < envFormat1 || format > envFormat3 {
		return fmt.Errorf("%w: unknown format %d (written by a newer eventfold?)", errEnvelope, format)
	}
	r := &reader{rest: data[2:]}
	e.Version = r.uvarint()
	e.Partition = int32(r.varint())
	e.Offset = r.varint()
	e.UpdatedAt = time.UnixMilli(r.varint()).UTC()
	e.Commands, e.Pending, e.Index = nil, nil, nil
	if format >= envFormat2 {
		n := r.uvarint()
		if n > maxCommandRecords*4 {
			return errEnvelope
		}
		for i := uint64(0); i < n && r.err == nil; i++ {
			e.Commands = append(e.Commands, CommandRecord{ID: string(r.bytes()), Version: r.uvarint(), Offset: r.varint()})
		}
		if r.err == nil && len(r.rest) > 0 {
			has := r.rest[0]
			r.rest = r.rest[1:]
			if has == 1 {
				e.Pending = &PendingCommand{ID: string(r.bytes()), Expected: r.uvarint(), Next: int(r.uvarint()), N: int(r.uvarint()), Offset: r.varint()}
				e.Pending.State = r.bytes()
			}
		}
	}
	if format == envFormat3 && r.err == nil {
		e.Index = r.index()
	}
	if r.err != nil {
		return r.err
	}
	e.State = r.rest
	return nil
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
