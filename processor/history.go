package processor

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"strings"

	"github.com/lovoo/goka"

	"github.com/eventfold/eventfold/kafka"
)

// HistoryTopic holds the sealed nodes of every entity's history index.
func HistoryTopic(app, entity string) string { return Group(app, entity) + "-history" }

// index records the event in the entity's history index and seals full
// nodes into the history topic (docs/history.md).
func (rt *entityRuntime) index(ctx goka.Context, env *Envelope, out outcome) {
	if env.Index == nil {
		env.Index = &Index{}
	}
	ix := env.Index
	switch out {
	case committed:
		for i := range ix.Entries {
			if ix.Entries[i].flag == entryPending {
				ix.Entries[i].Applied, ix.Entries[i].flag = true, 0
			}
		}
	case applied, rejected:
		// A plain event or a new command aborts the pending one, if any.
		if env.Pending == nil {
			clearPending(ix)
		}
	}
	e := IndexEntry{Offset: ctx.Offset(), Time: ctx.Timestamp().UnixMilli(), Applied: out == applied || out == committed}
	if out == pending {
		if strings.HasPrefix(string(ctx.Headers()[HeaderBatch]), "0/") {
			clearPending(ix) // a new command replaced the pending one
		}
		e.flag = entryPending
	}
	ix.Entries = append(ix.Entries, e)
	if env.Pending == nil && len(ix.Entries) >= rt.p.cfg.historyFanout {
		rt.seal(ctx, env)
	}
}

func clearPending(ix *Index) {
	for i := range ix.Entries {
		ix.Entries[i].flag = 0
	}
}

// seal writes the open entries as a level-0 node (with the state after
// them) and full levels as inner nodes. The envelope references a node only
// after Kafka acknowledged it; on failure the entries stay open and sealing
// is tried again with the next event.
func (rt *entityRuntime) seal(ctx goka.Context, env *Envelope) {
	ix := env.Index
	k := rt.p.cfg.historyFanout
	var appliedIn uint64
	for _, e := range ix.Entries {
		if e.Applied {
			appliedIn++
		}
	}
	leaf := node{leaf: true, before: env.Version - appliedIn, entries: ix.Entries, snapshot: env.State}
	ptr, err := rt.writeNode(ctx, leaf)
	if err != nil {
		rt.p.cfg.logger.Error("sealing history node failed; will retry", slog.String("entity", rt.typ.name), slog.String("key", ctx.Key()), slog.Any("error", err))
		return
	}
	ptr.Before, ptr.Applied, ptr.Events = leaf.before, appliedIn, uint64(len(ix.Entries))
	ptr.First, ptr.FirstOff = ix.Entries[0].Time, ix.Entries[0].Offset
	ix.Entries = nil
	for level := 0; ; level++ {
		if len(ix.Levels) <= level {
			ix.Levels = append(ix.Levels, nil)
		}
		ix.Levels[level] = append(ix.Levels[level], ptr)
		if len(ix.Levels[level]) < k || level+1 >= maxLevels {
			return
		}
		children := ix.Levels[level]
		up, err := rt.writeNode(ctx, node{pointers: children})
		if err != nil {
			rt.p.cfg.logger.Error("sealing history node failed; will retry", slog.String("entity", rt.typ.name), slog.Any("error", err))
			return
		}
		up.Before, up.First, up.FirstOff = children[0].Before, children[0].First, children[0].FirstOff
		for _, c := range children {
			up.Applied += c.Applied
			up.Events += c.Events
		}
		ix.Levels[level] = nil
		ptr = up
	}
}

func (rt *entityRuntime) writeNode(ctx goka.Context, n node) (IndexPointer, error) {
	pr, err := rt.p.producer()
	if err != nil {
		return IndexPointer{}, err
	}
	// The partition's context: a shutdown or revocation ends the wait.
	wctx, cancel := context.WithTimeout(ctx.Context(), writeTimeout)
	defer cancel()
	pos, err := pr.Send(wctx, kafka.Record{Topic: rt.history, Key: ctx.Key(), Value: n.marshal()})
	if err != nil {
		rt.p.permanent(err)
		return IndexPointer{}, err
	}
	return IndexPointer{Partition: pos.Partition, Offset: pos.Offset}, nil
}

// node is a sealed node of the history tree, as stored in the history topic.
type node struct {
	leaf     bool
	before   uint64 // leaf: applied events before it
	entries  []IndexEntry
	snapshot []byte // leaf: the state after its last entry
	pointers []IndexPointer
}

func (n node) marshal() []byte {
	var buf []byte
	if n.leaf {
		buf = append(buf, 0)
		buf = binary.AppendUvarint(buf, n.before)
		buf = appendIndex(buf, &Index{Entries: n.entries})
		buf = appendBytes(buf, n.snapshot)
		return buf
	}
	buf = append(buf, 1)
	return appendPointers(buf, n.pointers)
}

func unmarshalNode(b []byte) (node, error) {
	if len(b) < 1 {
		return node{}, errEnvelope
	}
	r := &reader{rest: b[1:]}
	var n node
	if b[0] == 0 {
		n.leaf = true
		n.before = r.uvarint()
		ix := r.index()
		if ix != nil {
			n.entries = ix.Entries
		}
		n.snapshot = r.bytes()
	} else {
		n.pointers = r.pointers()
	}
	if r.err != nil {
		return node{}, fmt.Errorf("processor: malformed history node: %w", r.err)
	}
	return n, nil
}
