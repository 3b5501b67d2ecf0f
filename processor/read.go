package processor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/eventfold/eventfold"
	"github.com/eventfold/eventfold/entity"
	"github.com/eventfold/eventfold/table"
)

// Get returns the current state of entity key from this node's table.
//
// Errors: eventfold.ErrNotFound when the entity type is unknown or the key
// has no applied events; a *table.NotOwnerError (eventfold.ErrNotOwner) when
// another node owns the key's partition; eventfold.ErrNotRecovered while the
// partition is being restored or reassigned.
func (p *Processor) Get(ctx context.Context, entityName, key string) (table.Entry, error) {
	rt, part, err := p.locate(entityName, key)
	if err != nil {
		return table.Entry{}, err
	}
	if !rt.owns(part) {
		return table.Entry{}, &table.NotOwnerError{Entity: entityName, Partition: part}
	}
	return rt.stores.Read(entityName, part, key)
}

// GetStandby is Get from a partition this node keeps warm without owning it
// (hot standby). The answer may lag the owner's.
func (p *Processor) GetStandby(ctx context.Context, entityName, key string) (table.Entry, error) {
	rt, part, err := p.locate(entityName, key)
	if err != nil {
		return table.Entry{}, err
	}
	e, err := rt.stores.Read(entityName, part, key)
	if err == nil && !rt.owns(part) {
		e.Stale = true
		e.Lag = rt.stores.Lag(part)
	}
	return e, err
}

func (p *Processor) locate(entityName, key string) (*entityRuntime, int32, error) {
	rt, ok := p.byName[entityName]
	if !ok {
		return nil, 0, fmt.Errorf("%w: unknown entity type %q", eventfold.ErrNotFound, entityName)
	}
	n := rt.partitions.Load()
	if n == 0 {
		return nil, 0, fmt.Errorf("%w: %s is starting", eventfold.ErrNotRecovered, entityName)
	}
	return rt, p.cfg.Partitioner.Partition(key, n), nil
}

// Types returns the entity types, in declaration order.
func (p *Processor) Types() []*entity.Type {
	out := make([]*entity.Type, len(p.order))
	for i, n := range p.order {
		out[i] = p.byName[n].typ
	}
	return out
}

// Type returns the entity type called name.
func (p *Processor) Type(name string) (*entity.Type, bool) {
	rt, ok := p.byName[name]
	if !ok {
		return nil, false
	}
	return rt.typ, true
}

// App is the application name (the group prefix).
func (p *Processor) App() string { return p.cfg.App }

// Partitions returns the partition count of entity's events topic, or 0
// before Run has verified the topics.
func (p *Processor) Partitions(entityName string) int32 {
	if rt, ok := p.byName[entityName]; ok {
		return rt.partitions.Load()
	}
	return 0
}

// Assigned returns the partitions of entity this node owns in the current
// generation, sorted.
func (p *Processor) Assigned(entityName string) []int32 {
	rt, ok := p.byName[entityName]
	if !ok {
		return nil
	}
	rt.mu.RLock()
	defer rt.mu.RUnlock()
	return sortedKeys(rt.assigned)
}

// Lags returns, for each partition of entity this node owns, how many
// records of its events topic lie past the last one delivered to the fold
// (the high-water mark then, minus that offset, minus one; 0: caught up).
// A partition is missing until a record of it has been delivered since
// it was assigned (an idle partition).
func (p *Processor) Lags(entityName string) map[int32]int64 {
	rt, ok := p.byName[entityName]
	if !ok {
		return nil
	}
	rt.mu.RLock()
	defer rt.mu.RUnlock()
	out := make(map[int32]int64, len(rt.lag))
	for part, lag := range rt.lag {
		if rt.assigned[part] {
			out[part] = lag
		}
	}
	return out
}

// RecoveredPartitions returns the partitions of entity with an open,
// recovered table on this node (owned or hot standby).
func (p *Processor) RecoveredPartitions(entityName string) []int32 {
	rt, ok := p.byName[entityName]
	if !ok {
		return nil
	}
	return rt.stores.Recovered()
}

// Recovered reports whether every group has joined, and every partition this
// node owns is recovered and processing.
func (p *Processor) Recovered() bool {
	select {
	case <-p.started:
	default:
		return false
	}
	for _, rt := range p.byName {
		if !rt.gp.Recovered() {
			return false
		}
		rt.mu.RLock()
		assigned := sortedKeys(rt.assigned)
		rt.mu.RUnlock()
		for _, part := range assigned {
			st := rt.stores.Get(part)
			if st == nil || !st.Recovered() {
				return false
			}
		}
	}
	return true
}

// WaitRecovered blocks until Recovered is true or ctx ends.
func (p *Processor) WaitRecovered(ctx context.Context) error {
	if err := p.waitStarted(ctx); err != nil {
		return err
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !p.Recovered() {
		select {
		case <-ctx.Done():
			return errors.Join(eventfold.ErrNotRecovered, ctx.Err())
		case <-tick.C:
		}
	}
	return nil
}

// List reads one partition's share of a list page as its owner: a
// *table.NotOwnerError when another node owns it, eventfold.ErrNotRecovered
// while it is restored or reassigned.
func (p *Processor) List(ctx context.Context, entityName string, partition int32, q table.ListQuery) (table.ListPart, error) {
	rt, err := p.listed(entityName, partition)
	if err != nil {
		return table.ListPart{}, err
	}
	if !rt.owns(partition) {
		return table.ListPart{}, &table.NotOwnerError{Entity: entityName, Partition: partition}
	}
	return rt.stores.List(entityName, partition, q)
}

// ListStandby is List from this node's copy of a partition, owned or kept
// warm (hot standby): it may lag the owner's.
func (p *Processor) ListStandby(ctx context.Context, entityName string, partition int32, q table.ListQuery) (table.ListPart, error) {
	rt, err := p.listed(entityName, partition)
	if err != nil {
		return table.ListPart{}, err
	}
	return rt.stores.List(entityName, partition, q)
}

func (p *Processor) listed(entityName string, partition int32) (*entityRuntime, error) {
	rt, ok := p.byName[entityName]
	if !ok {
		return nil, fmt.Errorf("%w: unknown entity type %q", eventfold.ErrNotFound, entityName)
	}
	if n := rt.partitions.Load(); n == 0 || partition < 0 || partition >= n {
		return nil, fmt.Errorf("%w: %s partition %d of %d", eventfold.ErrNotRecovered, entityName, partition, n)
	}
	return rt, nil
}
