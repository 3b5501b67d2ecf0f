package processor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/eventfold/eventfold"
)

// Entry is one entity's current state as stored on this node.
type Entry struct {
	Entity    string
	Key       string
	State     []byte // encoded with the entity's state codec; see Type.StateJSON
	Version   uint64 // events applied
	Partition int32
	Offset    int64 // offset of the last applied event
	UpdatedAt time.Time
	// Lag is how many changelog records the copy that answered was behind
	// the changelog's end: 0 for the owner's table, -1 when unknown.
	Lag int64
	// Stale marks an answer from a copy that does not own the partition.
	Stale bool
}

// NotOwnerError says which partition a key is in and that this node does not
// own it. It matches eventfold.ErrNotOwner.
type NotOwnerError struct {
	Entity    string
	Partition int32
}

func (e *NotOwnerError) Error() string {
	return fmt.Sprintf("%s partition %d is not owned by this node", e.Entity, e.Partition)
}

// Is makes errors.Is(err, eventfold.ErrNotOwner) true.
func (e *NotOwnerError) Is(target error) bool { return target == eventfold.ErrNotOwner }

// Get returns the current state of entity key from this node's table.
//
// Errors: eventfold.ErrNotFound when the entity type is unknown or the key
// has no applied events; a *NotOwnerError (eventfold.ErrNotOwner) when
// another node owns the key's partition; eventfold.ErrNotRecovered while the
// partition is being restored or reassigned.
func (p *Processor) Get(ctx context.Context, entity, key string) (Entry, error) {
	rt, part, err := p.locate(entity, key)
	if err != nil {
		return Entry{}, err
	}
	if !rt.owns(part) {
		return Entry{}, &NotOwnerError{Entity: entity, Partition: part}
	}
	return rt.read(part, key)
}

// GetStandby is Get from a partition this node keeps warm without owning it
// (hot standby). The answer may lag the owner's.
func (p *Processor) GetStandby(ctx context.Context, entity, key string) (Entry, error) {
	rt, part, err := p.locate(entity, key)
	if err != nil {
		return Entry{}, err
	}
	e, err := rt.read(part, key)
	if err == nil && !rt.owns(part) {
		e.Stale = true
		e.Lag = rt.stores.Lag(part)
	}
	return e, err
}

func (p *Processor) locate(entity, key string) (*entityRuntime, int32, error) {
	rt, ok := p.byName[entity]
	if !ok {
		return nil, 0, fmt.Errorf("%w: unknown entity type %q", eventfold.ErrNotFound, entity)
	}
	n := rt.partitions.Load()
	if n == 0 {
		return nil, 0, fmt.Errorf("%w: %s is starting", eventfold.ErrNotRecovered, entity)
	}
	return rt, p.cfg.partitioner.Partition(key, n), nil
}

func (rt *entityRuntime) read(part int32, key string) (Entry, error) {
	st := rt.stores.Get(part)
	if st == nil || !st.Recovered() {
		return Entry{}, fmt.Errorf("%w: %s partition %d", eventfold.ErrNotRecovered, rt.typ.name, part)
	}
	raw, err := st.Get(key)
	if err != nil {
		// The store closed under us: the partition is being reassigned.
		return Entry{}, fmt.Errorf("%w: %s partition %d: %v", eventfold.ErrNotRecovered, rt.typ.name, part, err)
	}
	if raw == nil {
		return Entry{}, fmt.Errorf("%w: %s %q", eventfold.ErrNotFound, rt.typ.name, key)
	}
	return EntryFromStored(rt.typ.name, key, part, raw)
}

// EntryFromStored decodes a table value (an Envelope) into an Entry.
func EntryFromStored(entity, key string, partition int32, raw []byte) (Entry, error) {
	var env Envelope
	if err := env.UnmarshalBinary(raw); err != nil {
		return Entry{}, fmt.Errorf("processor: %s %q: %w", entity, key, err)
	}
	if env.Version == 0 {
		// Only an unfinished command so far: nothing applied.
		return Entry{}, fmt.Errorf("%w: %s %q", eventfold.ErrNotFound, entity, key)
	}
	return Entry{
		Entity: entity, Key: key, State: env.State, Version: env.Version,
		Partition: partition, Offset: env.Offset, UpdatedAt: env.UpdatedAt,
	}, nil
}

// Types returns the entity types, in declaration order.
func (p *Processor) Types() []*Type {
	out := make([]*Type, len(p.order))
	for i, n := range p.order {
		out[i] = p.byName[n].typ
	}
	return out
}

// Type returns the entity type called name.
func (p *Processor) Type(name string) (*Type, bool) {
	rt, ok := p.byName[name]
	if !ok {
		return nil, false
	}
	return rt.typ, true
}

// App is the application name (the group prefix).
func (p *Processor) App() string { return p.cfg.app }

// Partitions returns the partition count of entity's events topic, or 0
// before Run has verified the topics.
func (p *Processor) Partitions(entity string) int32 {
	if rt, ok := p.byName[entity]; ok {
		return rt.partitions.Load()
	}
	return 0
}

// Assigned returns the partitions of entity this node owns in the current
// generation, sorted.
func (p *Processor) Assigned(entity string) []int32 {
	rt, ok := p.byName[entity]
	if !ok {
		return nil
	}
	rt.mu.RLock()
	defer rt.mu.RUnlock()
	return sortedKeys(rt.assigned)
}

// RecoveredPartitions returns the partitions of entity with an open,
// recovered table on this node (owned or hot standby).
func (p *Processor) RecoveredPartitions(entity string) []int32 {
	rt, ok := p.byName[entity]
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
