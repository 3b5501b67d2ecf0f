package processor

import (
	"context"
	"sync"
)

// progress is how far the fold got in each partition on this node, for
// read-your-writes (GET ?min_offset=) and commands waiting for their own
// events. Only the fold goroutines advance it.
type progress struct {
	mu      sync.Mutex
	done    map[int32]int64 // partition -> last offset folded (or skipped)
	waiters map[int32][]waiter
}

type waiter struct {
	offset int64
	ch     chan struct{}
}

func newProgress() *progress {
	return &progress{done: map[int32]int64{}, waiters: map[int32][]waiter{}}
}

// start records where a partition's consumption begins: everything before
// the first offset delivered was folded and committed earlier.
func (p *progress) start(partition int32, next int64) {
	if next >= 0 { // not OffsetOldest/OffsetNewest: a committed position
		p.advance(partition, next-1)
	}
}

func (p *progress) advance(partition int32, offset int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if cur, ok := p.done[partition]; ok && cur >= offset {
		return
	}
	p.done[partition] = offset
	ws := p.waiters[partition]
	if len(ws) == 0 {
		return
	}
	kept := ws[:0]
	for _, w := range ws {
		if w.offset <= offset {
			close(w.ch)
		} else {
			kept = append(kept, w)
		}
	}
	p.waiters[partition] = kept
}

// wait blocks until offset of partition is folded or ctx ends.
func (p *progress) wait(ctx context.Context, partition int32, offset int64) error {
	p.mu.Lock()
	if cur, ok := p.done[partition]; ok && cur >= offset {
		p.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	p.waiters[partition] = append(p.waiters[partition], waiter{offset, ch})
	p.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		p.mu.Lock()
		ws := p.waiters[partition]
		for i, w := range ws {
			if w.ch == ch {
				p.waiters[partition] = append(ws[:i], ws[i+1:]...)
				break
			}
		}
		p.mu.Unlock()
		return ctx.Err()
	}
}
