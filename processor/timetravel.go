package processor

import (
	"context"
	"fmt"
	"time"

	"github.com/eventfold/eventfold"
	"github.com/eventfold/eventfold/table"
)

// History lists key's events after offset after (-1: from the first), at
// most limit (1..limits.HistoryPageEvents) and at most the page byte bound
// of payload (WithHistoryPageBytes; at least one event), with the fold's
// verdict on each. The page's Next continues after its last event.
// Errors: *table.NotOwnerError on other nodes; eventfold.ErrNotFound for a key
// without events.
func (p *Processor) History(ctx context.Context, entityName, key string, after int64, limit int) (table.HistoryPage, error) {
	rt, part, env, err := p.ownedEnvelope(entityName, key)
	if err != nil {
		return table.HistoryPage{}, err
	}
	return rt.past.Page(ctx, env, part, after, limit)
}

// StateAt folds key's own events up to version (if asOf is zero) or up to
// the last event at or before asOf, and returns that state as an table.Entry.
// Errors: eventfold.ErrNotFound when the entity did not exist yet (or has
// fewer versions); *table.NotOwnerError on other nodes.
func (p *Processor) StateAt(ctx context.Context, entityName, key string, version uint64, asOf time.Time) (table.Entry, error) {
	rt, part, env, err := p.ownedEnvelope(entityName, key)
	if err != nil {
		return table.Entry{}, err
	}
	return rt.past.StateAt(ctx, env, part, key, version, asOf)
}

// ownedEnvelope reads key's envelope on its owner, with the history on.
func (p *Processor) ownedEnvelope(entityName, key string) (*entityRuntime, int32, *table.Envelope, error) {
	if !p.cfg.history {
		return nil, 0, nil, fmt.Errorf("%w: history is off (WithoutHistory)", eventfold.ErrInvalid)
	}
	rt, part, err := p.locate(entityName, key)
	if err != nil {
		return nil, 0, nil, err
	}
	if !rt.owns(part) {
		return nil, 0, nil, &table.NotOwnerError{Entity: entityName, Partition: part}
	}
	env, _, err := rt.stores.Envelope(rt.typ.Name(), part, key)
	if err != nil {
		return nil, 0, nil, err
	}
	if env.Index == nil {
		return nil, 0, nil, fmt.Errorf("%w: %s %q has no events", eventfold.ErrNotFound, entityName, key)
	}
	return rt, part, &env, nil
}
