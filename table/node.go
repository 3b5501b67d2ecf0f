package table

import (
	"encoding/binary"
	"fmt"
)

// Node is a sealed node of the history tree, as stored in the history topic.
type Node struct {
	Leaf     bool
	Before   uint64 // leaf: applied events before it
	Entries  []IndexEntry
	Snapshot []byte // leaf: the state after its last entry
	Pointers []IndexPointer
}

// MarshalBinary encodes the node for the history topic.
func (n Node) MarshalBinary() []byte {
	var buf []byte
	if n.Leaf {
		buf = append(buf, 0)
		buf = binary.AppendUvarint(buf, n.Before)
		buf = appendIndex(buf, &Index{Entries: n.Entries})
		buf = appendBytes(buf, n.Snapshot)
		return buf
	}
	buf = append(buf, 1)
	return appendPointers(buf, n.Pointers)
}

// UnmarshalNode decodes a history-topic record.
func UnmarshalNode(b []byte) (Node, error) {
	if len(b) < 1 {
		return Node{}, errEnvelope
	}
	r := &reader{rest: b[1:]}
	var n Node
	if b[0] == 0 {
		n.Leaf = true
		n.Before = r.uvarint()
		ix := r.index()
		if ix != nil {
			n.Entries = ix.Entries
		}
		n.Snapshot = r.bytes()
	} else {
		n.Pointers = r.pointers()
	}
	if r.err != nil {
		return Node{}, fmt.Errorf("table: malformed history node: %w", r.err)
	}
	return n, nil
}
