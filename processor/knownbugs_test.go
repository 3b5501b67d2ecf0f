package processor_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventfold/eventfold/eventfoldtest"
	"github.com/eventfold/eventfold/kafka"
	"github.com/eventfold/eventfold/processor"
)

// Tests of bugs found while writing the test net and not fixed yet: they
// fail today. They run with EVENTFOLD_KNOWN_BUGS=1 (not in make test).
func knownBug(t *testing.T) {
	t.Helper()
	if os.Getenv("EVENTFOLD_KNOWN_BUGS") == "" {
		t.Skip("a known bug, not fixed yet: run with EVENTFOLD_KNOWN_BUGS=1")
	}
}

// fold defers rt.progress.advance, and goka's ctx.Fail panics: an event
// whose fold fails (here its dead letter cannot be written) still counts
// as folded for WaitApplied and Execute's catch-up, although it was not
// stored and will be folded again after the partition restarts. A command
// whose last event's fold fails this way wakes its Execute, which finds no
// command record and answers 409 for a command that then applies.
func TestKnownBugWaitAppliedReturnsForAnEventWhoseFoldFailed(t *testing.T) {
	knownBug(t)
	k := eventfoldtest.NewKafka(t, 1)
	sc := eventfoldtest.SaramaConfig()
	sc.Producer.Retry.Max = 1
	sc.Producer.Retry.BackoffFunc = nil
	sc.Producer.Retry.Backoff = 10 * time.Millisecond
	var refuse atomic.Bool
	refuse.Store(true)
	refused := refuseProduce(k, "counters-events-dlq", refuse.Load)
	r := startProcessor(t, k.Brokers, t.TempDir(), processor.WithPartitions(1), processor.WithSaramaConfig(sc))
	pos := produce(t, k.Brokers, []kafka.Record{plainEvent(t, "a", 1), plainEvent(t, "a", -5)})
	eventfoldtest.Eventually(t, 30*time.Second, func() error {
		if refused.Load() == 0 {
			return errors.New("no dead letter refused yet")
		}
		return nil
	})
	// The rejected event's dead letter was refused: it is not folded.
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	err := r.WaitApplied(ctx, "counters", "a", pos[1].Offset)
	cancel()
	dl := len(deadLetters(t, k.Brokers, "counters-events-dlq"))
	if err == nil {
		t.Errorf("WaitApplied(%d) returned while the event's fold fails (%d dead letters, %d writes refused)", pos[1].Offset, dl, refused.Load())
	}
	refuse.Store(false)
	eventfoldtest.Eventually(t, 60*time.Second, func() error {
		if n := len(deadLetters(t, k.Brokers, "counters-events-dlq")); n != 1 {
			return fmt.Errorf("%d dead letters", n)
		}
		return nil
	})
}
