package limits_test

import (
	"testing"

	"github.com/eventfold/eventfold/limits"
)

// The derived limits must leave each record its key, headers and overhead.
func TestDerivedLimitsFitARecord(t *testing.T) {
	if got := limits.EventBytes + limits.IDBytes + limits.HeaderBytes + limits.RecordOverhead; got > limits.RecordBytes {
		t.Errorf("an event with key and headers takes %d bytes, over RecordBytes %d", got, limits.RecordBytes)
	}
	if got := limits.EnvelopeBytes + limits.IDBytes + limits.RecordOverhead; got > limits.RecordBytes {
		t.Errorf("an envelope with its key takes %d bytes, over RecordBytes %d", got, limits.RecordBytes)
	}
	if limits.ErrorTextBytes+512 > limits.HeaderBytes {
		t.Errorf("dead-letter headers (error text %d + the rest) do not fit HeaderBytes %d", limits.ErrorTextBytes, limits.HeaderBytes)
	}
	if limits.EventBytes >= limits.EnvelopeBytes {
		t.Errorf("EventBytes %d should be below EnvelopeBytes %d", limits.EventBytes, limits.EnvelopeBytes)
	}
}
