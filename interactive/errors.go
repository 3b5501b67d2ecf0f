package interactive

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/IBM/sarama"

	"github.com/eventfold/eventfold"
	"github.com/eventfold/eventfold/entity"
)

// Error codes in JSON error bodies: {"error": "...", "code": "not_found"}.
// They survive forwarding: Client turns them back into the same sentinels.
const (
	CodeNotFound     = "not_found"
	CodeNotOwner     = "not_owner"
	CodeNotRecovered = "not_recovered"
	CodeStale        = "stale"
	CodeInvalid      = "invalid"
	CodeTooLarge     = "too_large"
	CodeUnavailable  = "unavailable"
	CodeUnauthorized = "unauthorized"
	CodeForbidden    = "forbidden"
	CodeTimeout      = "timeout"
	CodeConflict     = "conflict"
	CodeRejected     = "rejected"
	CodeInternal     = "internal"
	// CodeStateTooLarge: the command would make the entity's state (or one
	// of its events) larger than a Kafka record (docs/limits.md).
	CodeStateTooLarge = "state_too_large"
	// CodeTooManyEvents: the command decided more events than allowed.
	CodeTooManyEvents = "too_many_events"
	// CodeIdempotencyKeyReused: the Idempotency-Key named another request.
	CodeIdempotencyKeyReused = "idempotency_key_reused"
	// CodeOutcomeUnknown: the command may have been appended; retry it
	// with the same Idempotency-Key to learn its result (503).
	CodeOutcomeUnknown = "outcome_unknown"
	// CodeUnsupportedMediaType: a POST body that is not application/json (415).
	CodeUnsupportedMediaType = "unsupported_media_type"
)

// ErrTooLarge: the request body exceeds the limit.
var ErrTooLarge = errors.New("interactive: request body too large")

// ErrUnsupportedMediaType: a request body whose Content-Type is not
// application/json.
var ErrUnsupportedMediaType = errors.New("interactive: unsupported media type")

// ErrBadGateway: the owner answered, but not with a complete answer that
// could be relayed (a body shorter than its Content-Length, a broken
// connection before the answer's start was read). It leaves as 502 with
// code unavailable: the client may retry, as after a 503.
var ErrBadGateway = errors.New("interactive: bad answer from the owner")

// ErrUnauthorized: the bearer token is missing or wrong.
var ErrUnauthorized = errors.New("interactive: unauthorized")

// ErrForbidden: the token is valid but its scope does not allow the
// request (a read token on a write).
var ErrForbidden = errors.New("interactive: forbidden")

// ErrTimeout: a bounded wait (min_offset) ran out.
var ErrTimeout = errors.New("interactive: timed out")

// errMethodNotAllowed: a known path with another method. Its text is the
// whole message: it names no input.
var errMethodNotAllowed = errors.New("method not allowed")

// apiError is the JSON error body.
type apiError struct {
	Error string `json:"error"`
	Code  string `json:"code"`
	// CurrentVersion accompanies conflict: the entity's version now.
	CurrentVersion *uint64 `json:"current_version,omitempty"`
}

// classify is the one place that maps errors to codes and statuses.
func classify(err error) (code string, status int) {
	switch {
	case errors.Is(err, eventfold.ErrNotFound):
		return CodeNotFound, http.StatusNotFound
	case errors.Is(err, eventfold.ErrInvalid):
		return CodeInvalid, http.StatusBadRequest
	case errors.Is(err, errMethodNotAllowed):
		return CodeInvalid, http.StatusMethodNotAllowed
	case errors.Is(err, ErrTooLarge):
		return CodeTooLarge, http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrUnsupportedMediaType):
		return CodeUnsupportedMediaType, http.StatusUnsupportedMediaType
	case errors.Is(err, sarama.ErrMessageSizeTooLarge):
		// The broker refused the record as too large: permanent, never 503.
		return CodeTooLarge, http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrUnauthorized):
		return CodeUnauthorized, http.StatusUnauthorized
	case errors.Is(err, ErrForbidden):
		return CodeForbidden, http.StatusForbidden
	case errors.Is(err, eventfold.ErrNotOwner):
		return CodeNotOwner, http.StatusMisdirectedRequest
	case errors.Is(err, eventfold.ErrNotRecovered):
		return CodeNotRecovered, http.StatusServiceUnavailable
	case errors.Is(err, eventfold.ErrStale):
		return CodeStale, http.StatusServiceUnavailable
	case errors.Is(err, eventfold.ErrOutcomeUnknown):
		return CodeOutcomeUnknown, http.StatusServiceUnavailable
	case errors.Is(err, ErrBadGateway):
		return CodeUnavailable, http.StatusBadGateway
	case errors.Is(err, eventfold.ErrUnavailable):
		return CodeUnavailable, http.StatusServiceUnavailable
	case errors.Is(err, ErrTimeout):
		return CodeTimeout, http.StatusGatewayTimeout
	case errors.Is(err, eventfold.ErrConflict):
		return CodeConflict, http.StatusConflict
	case errors.Is(err, eventfold.ErrRejected):
		return CodeRejected, http.StatusUnprocessableEntity
	case errors.Is(err, eventfold.ErrStateTooLarge):
		return CodeStateTooLarge, http.StatusUnprocessableEntity
	case errors.Is(err, eventfold.ErrTooManyEvents):
		return CodeTooManyEvents, http.StatusUnprocessableEntity
	case errors.Is(err, eventfold.ErrIdempotencyKeyReused):
		return CodeIdempotencyKeyReused, http.StatusUnprocessableEntity
	}
	return CodeInternal, http.StatusInternalServerError
}

// sentinel is classify's inverse, for answers from other nodes.
func sentinel(code string) error {
	switch code {
	case CodeNotFound:
		return eventfold.ErrNotFound
	case CodeInvalid:
		return eventfold.ErrInvalid
	case CodeTooLarge:
		return ErrTooLarge
	case CodeUnsupportedMediaType:
		return ErrUnsupportedMediaType
	case CodeUnauthorized:
		return ErrUnauthorized
	case CodeForbidden:
		return ErrForbidden
	case CodeNotOwner:
		return eventfold.ErrNotOwner
	case CodeNotRecovered:
		return eventfold.ErrNotRecovered
	case CodeStale:
		return eventfold.ErrStale
	case CodeUnavailable:
		return eventfold.ErrUnavailable
	case CodeTimeout:
		return ErrTimeout
	case CodeConflict:
		return eventfold.ErrConflict
	case CodeRejected:
		return eventfold.ErrRejected
	case CodeStateTooLarge:
		return eventfold.ErrStateTooLarge
	case CodeTooManyEvents:
		return eventfold.ErrTooManyEvents
	case CodeIdempotencyKeyReused:
		return eventfold.ErrIdempotencyKeyReused
	case CodeOutcomeUnknown:
		return eventfold.ErrOutcomeUnknown
	}
	return nil
}

// RemoteError is an error answered by a node, with its code mapped back to
// the sentinel it came from (errors.Is(err, eventfold.ErrNotFound) works).
type RemoteError struct {
	Status  int
	Code    string
	Message string
	// CurrentVersion is set with CodeConflict.
	CurrentVersion *uint64
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("%s (HTTP %d, %s)", e.Message, e.Status, e.Code)
}

// Unwrap returns the sentinel for Code, if any.
func (e *RemoteError) Unwrap() error { return sentinel(e.Code) }

// writeError writes err as a JSON error body with its status.
func writeError(w http.ResponseWriter, err error) int {
	code, status := classify(err)
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", strconv.Itoa(1))
	}
	ae := apiError{Error: err.Error(), Code: code}
	var ce *entity.ConflictError
	if errors.As(err, &ce) {
		ae.CurrentVersion = &ce.Current
	}
	writeJSON(w, status, ae)
	return status
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// decodeError reads a JSON error body from another node.
func decodeError(status int, body []byte) error {
	var ae apiError
	if err := json.Unmarshal(body, &ae); err != nil || ae.Code == "" {
		return &RemoteError{Status: status, Code: CodeInternal, Message: string(body)}
	}
	return &RemoteError{Status: status, Code: ae.Code, Message: ae.Error, CurrentVersion: ae.CurrentVersion}
}
