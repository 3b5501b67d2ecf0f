// Package run runs the long-running parts of a stage together: each part
// in a goroutine the Group owns, the first part to fail stops the others
// (one part failing must stop the node: partial service hides errors), and
// Wait returns every part's error.
package run

import (
	"context"
	"errors"
	"sync"
)

// Group is a set of parts sharing one context.
type Group struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	errs   []error
}

// New returns a group and the context its parts run in: cancelled when
// ctx is, or when a part fails.
func New(ctx context.Context) (*Group, context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	return &Group{cancel: cancel}, ctx
}

// Go runs fn in the group; an error from it stops the group's context.
func (g *Group) Go(fn func() error) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		if err := fn(); err != nil {
			g.mu.Lock()
			g.errs = append(g.errs, err)
			g.mu.Unlock()
			g.cancel()
		}
	}()
}

// Wait waits for every part and returns their errors joined (nil if none).
func (g *Group) Wait() error {
	g.wg.Wait()
	g.cancel()
	g.mu.Lock()
	defer g.mu.Unlock()
	return errors.Join(g.errs...)
}
