package eventfold

import "errors"

// Sentinel errors that callers branch on. Every package of eventfold wraps
// these (errors.Is works through wrapping and across HTTP forwarding hops,
// where the JSON error code is turned back into the same sentinel).
var (
	// ErrNotFound: the entity id has no applied events, or the entity type is unknown.
	ErrNotFound = errors.New("eventfold: not found")
	// ErrNotOwner: this node does not own the partition of the key.
	ErrNotOwner = errors.New("eventfold: not the partition owner")
	// ErrNotRecovered: the partition is still recovering its table; retry later.
	ErrNotRecovered = errors.New("eventfold: partition not recovered")
	// ErrStale: the only copy that could answer lags more than the caller accepts.
	ErrStale = errors.New("eventfold: answer would be stale")
	// ErrInvalid: the request (event, id, option) is malformed.
	ErrInvalid = errors.New("eventfold: invalid input")
	// ErrUnavailable: no node can answer right now (no owner known, owner unreachable).
	ErrUnavailable = errors.New("eventfold: unavailable")
	// ErrClosed: the component was stopped.
	ErrClosed = errors.New("eventfold: closed")
	// ErrTopicMismatch: an existing topic's configuration contradicts what eventfold needs.
	ErrTopicMismatch = errors.New("eventfold: topic configuration mismatch")
	// ErrConflict: a command's expected version is not the entity's current version.
	ErrConflict = errors.New("eventfold: version conflict")
	// ErrRejected: the domain refused a command (Decide returned an error).
	ErrRejected = errors.New("eventfold: command rejected")
	// ErrStateTooLarge: the event or command would make the entity's state
	// (or one event) larger than a Kafka record may be (docs/limits.md).
	ErrStateTooLarge = errors.New("eventfold: state too large")
	// ErrTooManyEvents: a command decided more events than the entity type
	// allows in one command.
	ErrTooManyEvents = errors.New("eventfold: too many events in one command")
	// ErrIdempotencyKeyReused: an Idempotency-Key came back with a
	// different request than the one it first named.
	ErrIdempotencyKeyReused = errors.New("eventfold: idempotency key reused for another request")
	// ErrOutcomeUnknown: a command's events may have been appended, but
	// whether the fold applied them is not known yet. Retry with the same
	// Idempotency-Key: the retry answers with the first attempt's result.
	// Nothing retries on the caller's behalf, since a retry that came after
	// the entity forgot the key would decide anew.
	ErrOutcomeUnknown = errors.New("eventfold: command appended, outcome not known yet")
)

// IsRetryable reports whether err is a transient condition that a caller may
// retry after a short backoff (ownership moving, partition recovering).
func IsRetryable(err error) bool {
	return errors.Is(err, ErrNotOwner) || errors.Is(err, ErrNotRecovered) || errors.Is(err, ErrUnavailable) ||
		errors.Is(err, ErrOutcomeUnknown)
}
