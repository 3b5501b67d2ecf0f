package processor

import (
	"context"
	"log/slog"
	"strings"

	"github.com/lovoo/goka"

	"github.com/eventfold/eventfold/kafka"
	"github.com/eventfold/eventfold/table"
)

// index records the event in the entity's history index and seals full
// nodes into the history topic (docs/history.md).
func (rt *entityRuntime) index(ctx goka.Context, env *table.Envelope, out outcome) {
	if env.Index == nil {
		env.Index = &table.Index{}
	}
	ix := env.Index
	switch out {
	case committed:
		for i := range ix.Entries {
			if ix.Entries[i].Pending {
				ix.Entries[i].Applied, ix.Entries[i].Pending = true, false
			}
		}
	case applied, rejected:
		// A plain event or a new command aborts the pending one, if any.
		if env.Pending == nil {
			clearPending(ix)
		}
	}
	e := table.IndexEntry{Offset: ctx.Offset(), Time: ctx.Timestamp().UnixMilli(), Applied: out == applied || out == committed}
	if out == pending {
		if strings.HasPrefix(string(ctx.Headers()[HeaderBatch]), "0/") {
			clearPending(ix) // a new command replaced the pending one
		}
		e.Pending = true
	}
	ix.Entries = append(ix.Entries, e)
	if env.Pending == nil && len(ix.Entries) >= rt.p.cfg.historyFanout {
		rt.seal(ctx, env)
	}
}

func clearPending(ix *table.Index) {
	for i := range ix.Entries {
		ix.Entries[i].Pending = false
	}
}

// seal writes the open entries as a level-0 node (with the state after
// them) and full levels as inner nodes. The envelope references a node only
// after Kafka acknowledged it; on failure the entries stay open and sealing
// is tried again with the next event.
func (rt *entityRuntime) seal(ctx goka.Context, env *table.Envelope) {
	ix := env.Index
	k := rt.p.cfg.historyFanout
	var appliedIn uint64
	for _, e := range ix.Entries {
		if e.Applied {
			appliedIn++
		}
	}
	leaf := table.Node{Leaf: true, Before: env.Version - appliedIn, Entries: ix.Entries, Snapshot: env.State}
	ptr, err := rt.writeNode(ctx, leaf)
	if err != nil {
		rt.p.cfg.Logger.Error("sealing history node failed; will retry", slog.String("entity", rt.typ.Name()), slog.String("key", ctx.Key()), slog.Any("error", err))
		return
	}
	ptr.Before, ptr.Applied, ptr.Events = leaf.Before, appliedIn, uint64(len(ix.Entries))
	ptr.First, ptr.FirstOff = ix.Entries[0].Time, ix.Entries[0].Offset
	ix.Entries = nil
	for level := 0; ; level++ {
		if len(ix.Levels) <= level {
			ix.Levels = append(ix.Levels, nil)
		}
		ix.Levels[level] = append(ix.Levels[level], ptr)
		if len(ix.Levels[level]) < k || level+1 >= table.MaxLevels {
			return
		}
		children := ix.Levels[level]
		up, err := rt.writeNode(ctx, table.Node{Pointers: children})
		if err != nil {
			rt.p.cfg.Logger.Error("sealing history node failed; will retry", slog.String("entity", rt.typ.Name()), slog.Any("error", err))
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

func (rt *entityRuntime) writeNode(ctx goka.Context, n table.Node) (table.IndexPointer, error) {
	pr, err := rt.p.producer()
	if err != nil {
		return table.IndexPointer{}, err
	}
	// The partition's context: a shutdown or revocation ends the wait.
	wctx, cancel := context.WithTimeout(ctx.Context(), writeTimeout)
	defer cancel()
	pos, err := pr.Send(wctx, kafka.Record{Topic: rt.history, Key: ctx.Key(), Value: n.MarshalBinary()})
	if err != nil {
		rt.p.permanent(err)
		return table.IndexPointer{}, err
	}
	return table.IndexPointer{Partition: pos.Partition, Offset: pos.Offset}, nil
}
