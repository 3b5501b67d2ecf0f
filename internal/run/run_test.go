package run_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/eventfold/eventfold/internal/run"
)

func TestFirstFailureStopsTheOthersAndEveryErrorIsReturned(t *testing.T) {
	g, ctx := run.New(context.Background())
	errA, errB := errors.New("a failed"), errors.New("b stopped")
	g.Go(func() error { return errA })
	g.Go(func() error {
		select {
		case <-ctx.Done():
			return errB
		case <-time.After(10 * time.Second):
			return nil
		}
	})
	g.Go(func() error { <-ctx.Done(); return nil })
	err := g.Wait()
	if !errors.Is(err, errA) || !errors.Is(err, errB) {
		t.Fatalf("Wait() = %v, want both errors", err)
	}
}

func TestCancelledParentStopsTheGroupWithoutError(t *testing.T) {
	parent, cancel := context.WithCancel(context.Background())
	g, ctx := run.New(parent)
	g.Go(func() error { <-ctx.Done(); return nil })
	cancel()
	if err := g.Wait(); err != nil {
		t.Fatalf("Wait() = %v, want nil", err)
	}
}
