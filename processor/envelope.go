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
const (
	envMagic    = 0xEF
	envFormat1  = 0x01
	envFormat2  = 0x02
	maxEnvField = 1 << 20
)

var errEnvelope = errors.New("processor: malformed envelope")

// MarshalBinary encodes e.
func (e *Envelope) MarshalBinary() ([]byte, error) {
	format := byte(envFormat1)
	if len(e.Commands) > 0 || e.Pending != nil {
		format = envFormat2
	}
	buf := make([]byte, 0, 2+4*binary.MaxVarintLen64+len(e.State))
	buf = append(buf, envMagic, format)
	buf = binary.AppendUvarint(buf, e.Version)
	buf = binary.AppendVarint(buf, int64(e.Partition))
	buf = binary.AppendVarint(buf, e.Offset)
	buf = binary.AppendVarint(buf, e.UpdatedAt.UnixMilli())
	if format == envFormat2 {
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
	buf = append(buf, e.State...)
	return buf, nil
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
	if format != envFormat1 && format != envFormat2 {
		return fmt.Errorf("%w: unknown format %d (written by a newer eventfold?)", errEnvelope, format)
	}
	r := &reader{rest: data[2:]}
	e.Version = r.uvarint()
	e.Partition = int32(r.varint())
	e.Offset = r.varint()
	e.UpdatedAt = time.UnixMilli(r.varint()).UTC()
	e.Commands, e.Pending = nil, nil
	if format == envFormat2 {
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
