package table

import (
	"context"
	"fmt"
	"time"

	"github.com/eventfold/eventfold"
	"github.com/eventfold/eventfold/entity"
	"github.com/eventfold/eventfold/kafka"
	"github.com/eventfold/eventfold/limits"
)

// HistoryEvent is one event of an entity, as the history lists it.
type HistoryEvent struct {
	Partition int32
	Offset    int64
	Timestamp time.Time
	Type      string // "" when the payload does not decode
	Payload   []byte
	Applied   bool
	Version   uint64 // the entity's version after this event
}

// HistoryPage is a page of an entity's events, oldest first.
type HistoryPage struct {
	Events []HistoryEvent
	// Next is the offset to pass as after for the next page; -1 at the end.
	Next int64
	// Bytes is the sum of the events' payload sizes (see
	// History.PageBytes).
	Bytes int
}

// History reads one entity type's past on the owner of a key: the open
// index in the key's Envelope, the sealed nodes in the history topic and
// the events in the events topic.
type History struct {
	Type *entity.Type
	// Events and Nodes are the events topic and the history topic.
	Events, Nodes string
	// Fetcher returns the fetcher to read records by offset with.
	Fetcher func() (*kafka.Fetcher, error)
	// PageBytes bounds a page's payload bytes (at least one event).
	PageBytes int
}

// item is a subtree of an entity's history forest, oldest first: a pointer
// to a sealed node of some height, or the open entries.
type item struct {
	ptr    IndexPointer
	height int // 0: a leaf
	open   bool
	// summary
	before, applied uint64
	first, firstOff int64
}

func forest(env *Envelope) []item {
	var out []item
	ix := env.Index
	if ix == nil {
		return nil
	}
	for h := len(ix.Levels) - 1; h >= 0; h-- {
		for _, p := range ix.Levels[h] {
			out = append(out, item{ptr: p, height: h, before: p.Before, applied: p.Applied, first: p.First, firstOff: p.FirstOff})
		}
	}
	if len(ix.Entries) > 0 {
		var n uint64
		for _, e := range ix.Entries {
			if e.Applied {
				n++
			}
		}
		out = append(out, item{open: true, before: env.Version - n, applied: n, first: ix.Entries[0].Time, firstOff: ix.Entries[0].Offset})
	}
	return out
}

// walker visits the leaves of an entity's history in order.
type walker struct {
	h   *History
	env *Envelope
	// skip says whether a subtree cannot hold what is sought (next is the
	// following subtree, nil for the last).
	skip func(cur item, next *item) bool
	// visit sees a leaf; returning true stops the walk.
	visit func(before uint64, entries []IndexEntry, snapshot []byte) (bool, error)
}

func (w *walker) run(ctx context.Context) error {
	_, err := w.items(ctx, forest(w.env))
	return err
}

func (w *walker) items(ctx context.Context, items []item) (bool, error) {
	for i, it := range items {
		var next *item
		if i+1 < len(items) {
			next = &items[i+1]
		}
		if w.skip(it, next) {
			continue
		}
		stop, err := w.item(ctx, it)
		if stop || err != nil {
			return stop, err
		}
	}
	return false, nil
}

func (w *walker) item(ctx context.Context, it item) (bool, error) {
	if it.open {
		return w.visit(it.before, w.env.Index.Entries, nil)
	}
	n, err := w.h.readNode(ctx, it.ptr)
	if err != nil {
		return false, err
	}
	if n.Leaf {
		return w.visit(n.Before, n.Entries, n.Snapshot)
	}
	children := make([]item, len(n.Pointers))
	for i, p := range n.Pointers {
		children[i] = item{ptr: p, height: it.height - 1, before: p.Before, applied: p.Applied, first: p.First, firstOff: p.FirstOff}
	}
	return w.items(ctx, children)
}

func (h *History) readNode(ctx context.Context, ptr IndexPointer) (Node, error) {
	f, err := h.Fetcher()
	if err != nil {
		return Node{}, err
	}
	recs, err := f.FetchOffsets(ctx, h.Nodes, ptr.Partition, []int64{ptr.Offset}, 16<<10)
	if err != nil {
		return Node{}, fmt.Errorf("%w: history node %d/%d: %v", eventfold.ErrUnavailable, ptr.Partition, ptr.Offset, err)
	}
	return UnmarshalNode(recs[0].Value)
}

// Page lists the events of env's entity after offset after (-1: from the first), at
// most limit (1..limits.HistoryPageEvents) and at most the page byte bound
// of payload (PageBytes; at least one event), with the fold's
// verdict on each. The page's Next continues after its last event.
func (h *History) Page(ctx context.Context, env *Envelope, part int32, after int64, limit int) (HistoryPage, error) {
	if limit < 1 || limit > limits.HistoryPageEvents {
		return HistoryPage{}, fmt.Errorf("%w: limit %d, want 1..%d", eventfold.ErrInvalid, limit, limits.HistoryPageEvents)
	}
	// The index entries are small: pick up to limit of them, then fetch
	// their events until the byte bound.
	var picked []IndexEntry
	var versions []uint64
	more := false
	w := &walker{h: h, env: env,
		skip: func(_ item, next *item) bool { return next != nil && next.firstOff <= after },
		visit: func(before uint64, entries []IndexEntry, _ []byte) (bool, error) {
			v := before
			for _, e := range entries {
				if e.Applied {
					v++
				}
				if e.Offset <= after {
					continue
				}
				if len(picked) == limit {
					more = true
					return true, nil
				}
				picked = append(picked, e)
				versions = append(versions, v)
			}
			return false, nil
		}}
	if err := w.run(ctx); err != nil {
		return HistoryPage{}, err
	}
	page := HistoryPage{Next: -1}
	if len(picked) == 0 {
		return page, nil
	}
	bound := h.PageBytes
	i := 0
	err := h.eachEvent(ctx, part, picked, func(r kafka.Fetched) bool {
		if i > 0 && page.Bytes+len(r.Value) > bound {
			more = true // this event starts the next page
			return false
		}
		e := picked[i]
		typ, _ := h.Type.CheckEvent(r.Value)
		page.Events = append(page.Events, HistoryEvent{
			Partition: part, Offset: e.Offset, Timestamp: time.UnixMilli(e.Time).UTC(), Type: typ,
			Payload: r.Value, Applied: e.Applied, Version: versions[i],
		})
		page.Bytes += len(r.Value)
		i++
		if page.Bytes >= bound && i < len(picked) {
			more = true
			return false
		}
		return true
	})
	if err != nil {
		return HistoryPage{}, err
	}
	if more {
		page.Next = page.Events[len(page.Events)-1].Offset
	}
	return page, nil
}

// eachEvent calls fn with the events at entries' offsets, in order, until
// fn returns false; it holds one fetch response at a time.
func (h *History) eachEvent(ctx context.Context, part int32, entries []IndexEntry, fn func(kafka.Fetched) bool) error {
	f, err := h.Fetcher()
	if err != nil {
		return err
	}
	offs := make([]int64, len(entries))
	for i, e := range entries {
		offs[i] = e.Offset
	}
	// Neighbouring events share a fetch; spread-out ones cost one each.
	span := offs[len(offs)-1] - offs[0] + 1
	maxBytes := int32(min(max(span*256, 16<<10), 1<<20))
	if err := f.EachOffset(ctx, h.Events, part, offs, maxBytes, fn); err != nil {
		return fmt.Errorf("%w: events of %s: %v", eventfold.ErrUnavailable, h.Type.Name(), err)
	}
	return nil
}

// StateAt folds key's own events up to version (if asOf is zero) or up to
// the last event at or before asOf, and returns that state as an Entry.
// Errors: eventfold.ErrNotFound when the entity did not exist yet (or has
// fewer versions); *NotOwnerError on other nodes.
func (h *History) StateAt(ctx context.Context, env *Envelope, part int32, key string, version uint64, asOf time.Time) (Entry, error) {
	entity := h.Type.Name()
	var err error
	if !asOf.IsZero() {
		if version, err = h.versionAt(ctx, env, asOf.UnixMilli()); err != nil {
			return Entry{}, err
		}
	}
	if version == 0 || version > env.Version {
		return Entry{}, fmt.Errorf("%w: %s %q has versions 1..%d, not %d", eventfold.ErrNotFound, entity, key, env.Version, version)
	}
	// The leaf holding the version-th applied event.
	var leafBefore uint64
	var leafEntries []IndexEntry
	w := &walker{h: h, env: env,
		skip: func(cur item, _ *item) bool { return cur.before+cur.applied < version || cur.before >= version },
		visit: func(before uint64, entries []IndexEntry, _ []byte) (bool, error) {
			v := before
			for i, e := range entries {
				if e.Applied {
					v++
				}
				if v == version && e.Applied {
					leafBefore, leafEntries = before, entries[:i+1]
					return true, nil
				}
			}
			return false, nil
		}}
	if err := w.run(ctx); err != nil {
		return Entry{}, err
	}
	if leafEntries == nil {
		return Entry{}, fmt.Errorf("table: history of %s %q has no event for version %d", entity, key, version)
	}
	// The state before that leaf: the snapshot of the leaf that reached version leafBefore.
	var base []byte
	if leafBefore > 0 {
		found := false
		w := &walker{h: h, env: env,
			skip: func(cur item, _ *item) bool { return cur.before+cur.applied < leafBefore || cur.before >= leafBefore },
			visit: func(before uint64, entries []IndexEntry, snapshot []byte) (bool, error) {
				if snapshot == nil {
					return false, nil
				}
				n := before
				for _, e := range entries {
					if e.Applied {
						n++
					}
				}
				if n == leafBefore {
					base, found = snapshot, true
					return true, nil
				}
				return false, nil
			}}
		if err := w.run(ctx); err != nil {
			return Entry{}, err
		}
		if !found {
			return Entry{}, fmt.Errorf("table: history of %s %q has no snapshot at version %d", entity, key, leafBefore)
		}
	}
	var apply []IndexEntry
	for _, e := range leafEntries {
		if e.Applied {
			apply = append(apply, e)
		}
	}
	// Fold as the events arrive: one event and the state in memory, not
	// the leaf's events all at once.
	state, exists := base, leafBefore > 0
	var foldErr error
	i := 0
	err = h.eachEvent(ctx, part, apply, func(r kafka.Fetched) bool {
		if state, _, foldErr = h.Type.Apply(state, exists, r.Value); foldErr != nil {
			foldErr = fmt.Errorf("table: refolding %s %q at offset %d: %w", entity, key, apply[i].Offset, foldErr)
			return false
		}
		exists = true
		i++
		return true
	})
	if err != nil {
		return Entry{}, err
	}
	if foldErr != nil {
		return Entry{}, foldErr
	}
	last := apply[len(apply)-1]
	return Entry{Entity: entity, Key: key, State: state, Version: version, Partition: part, Offset: last.Offset,
		UpdatedAt: time.UnixMilli(last.Time).UTC()}, nil
}

// versionAt is the number of applied events at or before t (unix ms),
// assuming an entity's record timestamps do not go backwards.
func (h *History) versionAt(ctx context.Context, env *Envelope, t int64) (uint64, error) {
	var version uint64
	found := false
	w := &walker{h: h, env: env,
		skip: func(_ item, next *item) bool { return next != nil && next.first <= t },
		visit: func(before uint64, entries []IndexEntry, _ []byte) (bool, error) {
			v := before
			for _, e := range entries {
				if e.Time > t {
					return true, nil
				}
				if e.Applied {
					v++
				}
				version, found = v, true
			}
			return false, nil
		}}
	if err := w.run(ctx); err != nil {
		return 0, err
	}
	if !found || version == 0 {
		return 0, fmt.Errorf("%w: %s did not exist yet at %s", eventfold.ErrNotFound, h.Type.Name(), time.UnixMilli(t).UTC().Format(time.RFC3339))
	}
	return version, nil
}
