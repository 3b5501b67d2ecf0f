package processor

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/eventfold/eventfold/table"
	"github.com/lovoo/goka"
)

// pendingStates keeps the folded-aside state of unfinished commands in
// memory, so that a command's events cost one small envelope write each.
// What is not here (after a restart, a rebalance, an eviction) is rebuilt
// from the command's events in the events topic, whose offsets the
// envelope keeps.
type pendingStates struct {
	mu    sync.Mutex
	m     map[pendingKey]pendingState
	bytes int
}

type pendingKey struct {
	partition int32
	key       string
}

type pendingState struct {
	id     string
	offset int64 // the last event folded into state
	state  []byte
}

// maxPendingBytes bounds the memory of folded-aside states; past it states
// are rebuilt from the topic when their command's next event comes.
const maxPendingBytes = 64 << 20

func (p *pendingStates) put(partition int32, key, id string, offset int64, state []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := pendingKey{partition, key}
	p.removeLocked(k)
	if p.bytes+len(state)+len(key) > maxPendingBytes {
		return
	}
	if p.m == nil {
		p.m = map[pendingKey]pendingState{}
	}
	p.m[k] = pendingState{id: id, offset: offset, state: state}
	p.bytes += len(state) + len(key)
}

func (p *pendingStates) get(partition int32, key, id string, offset int64) ([]byte, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.m[pendingKey{partition, key}]
	if !ok || s.id != id || s.offset != offset {
		return nil, false
	}
	return s.state, true
}

func (p *pendingStates) drop(partition int32, key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.removeLocked(pendingKey{partition, key})
}

func (p *pendingStates) removeLocked(k pendingKey) {
	if old, ok := p.m[k]; ok {
		p.bytes -= len(old.state) + len(k.key)
		delete(p.m, k)
	}
}

// keep forgets the states of partitions not in owned (after a rebalance:
// another node may have moved those commands on).
func (p *pendingStates) keep(owned map[int32]bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k := range p.m {
		if !owned[k.partition] {
			p.removeLocked(k)
		}
	}
}

// pendingState returns the state after the pending command's events so
// far. ok is false when they cannot be found again (a table written by
// someone else); err is a fetch that failed and should be retried.
func (rt *entityRuntime) pendingState(ctx goka.Context, env *table.Envelope) (state []byte, ok bool, err error) {
	pc := env.Pending
	if pc.State != nil { // begun before format 4
		return pc.State, true, nil
	}
	if s, ok := rt.pending.get(ctx.Partition(), ctx.Key(), pc.ID, pc.Offset); ok {
		return s, true, nil
	}
	if len(pc.Offsets) != pc.Next || pc.Next == 0 || pc.Offsets[len(pc.Offsets)-1] != pc.Offset {
		return nil, false, nil
	}
	f, err := rt.p.fetcher()
	if err != nil {
		return nil, false, err
	}
	fctx, cancel := context.WithTimeout(ctx.Context(), writeTimeout)
	defer cancel()
	recs, err := f.FetchOffsets(fctx, rt.typ.Topic(), ctx.Partition(), pc.Offsets, 1<<20)
	if err != nil {
		return nil, false, fmt.Errorf("entity %s key %q: rebuilding pending command %s: %w", rt.typ.Name(), ctx.Key(), pc.ID, err)
	}
	state, exists := env.State, env.Version > 0
	for _, r := range recs {
		if string(r.Key) != ctx.Key() {
			return nil, false, nil
		}
		if state, _, err = rt.typ.Apply(state, exists, r.Value); err != nil {
			return nil, false, nil
		}
		exists = true
	}
	rt.pending.put(ctx.Partition(), ctx.Key(), pc.ID, pc.Offset, state)
	return state, true, nil
}

// writeTimeout bounds a write or fetch the fold waits for; the producer
// itself gives up after ~37 s of retries (kafka.NewConfig).
const writeTimeout = 60 * time.Second
