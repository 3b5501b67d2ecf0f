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
}

// The stored form is binary so that any state codec fits and the fold does
// not pay for a second JSON pass:
//
//	0xEF 0x01 uvarint(version) varint(partition) varint(offset) varint(updated_at unix ms) state...
//
// The format byte leaves room for later fields.
const (
	envMagic  = 0xEF
	envFormat = 0x01
)

var errEnvelope = errors.New("processor: malformed envelope")

// MarshalBinary encodes e.
func (e *Envelope) MarshalBinary() ([]byte, error) {
	buf := make([]byte, 0, 2+4*binary.MaxVarintLen64+len(e.State))
	buf = append(buf, envMagic, envFormat)
	buf = binary.AppendUvarint(buf, e.Version)
	buf = binary.AppendVarint(buf, int64(e.Partition))
	buf = binary.AppendVarint(buf, e.Offset)
	buf = binary.AppendVarint(buf, e.UpdatedAt.UnixMilli())
	buf = append(buf, e.State...)
	return buf, nil
}

// UnmarshalBinary decodes data into e. e.State aliases data.
func (e *Envelope) UnmarshalBinary(data []byte) error {
	if len(data) < 2 || data[0] != envMagic {
		return errEnvelope
	}
	if data[1] != envFormat {
		return fmt.Errorf("%w: unknown format %d (written by a newer eventfold?)", errEnvelope, data[1])
	}
	rest := data[2:]
	var fields [4]int64
	v, n := binary.Uvarint(rest)
	if n <= 0 {
		return errEnvelope
	}
	e.Version = v
	rest = rest[n:]
	for i := 1; i < 4; i++ {
		x, n := binary.Varint(rest)
		if n <= 0 {
			return errEnvelope
		}
		fields[i] = x
		rest = rest[n:]
	}
	e.Partition = int32(fields[1])
	e.Offset = fields[2]
	e.UpdatedAt = time.UnixMilli(fields[3]).UTC()
	e.State = rest
	return nil
}
