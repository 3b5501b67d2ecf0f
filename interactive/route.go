package interactive

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/eventfold/eventfold"
)

// ownerRoute is a request only the owner of its key's partition answers:
// a read, a command, a history page.
type ownerRoute struct {
	entityName, id string
	body           []byte // the request body, already read: forwarded as is
	// local answers here; an error matching eventfold.ErrNotOwner sends the
	// request to the owner.
	local func(ctx context.Context) (any, error)
	// transient are the local errors that another try may cure while
	// ownership moves (a partition recovering, Kafka briefly away).
	transient []error
	// noOwner answers once the lookup deadline passed with no owner's
	// answer; lastErr is the last try's error.
	noOwner func(lastErr error) (any, error)
}

// transient is the usual ownerRoute.transient.
var transient = []error{eventfold.ErrNotRecovered, eventfold.ErrUnavailable}

// route answers rt here or by one forward to the owner, and tries again
// within the lookup deadline while ownership moves: a rebalance or a dead
// node is a wait, not an error, for the client.
func (s *Server) route(r *http.Request, rt ownerRoute) (any, error) {
	// A forwarded request is never forwarded again: the forwarder's map is
	// out of date, and the forwarder tries again, not this node.
	forwarded := r.Header.Get(HeaderHop) != ""
	ctx := r.Context()
	deadline := time.Now().Add(s.cfg.lookupDeadline)
	backoff := 20 * time.Millisecond
	var lastErr error
	for {
		v, err := rt.local(ctx)
		switch {
		case err == nil:
			return v, nil
		case forwarded && (errors.Is(err, eventfold.ErrNotOwner) || isAny(err, rt.transient)):
			return nil, err
		case errors.Is(err, eventfold.ErrNotOwner):
			v, ferr := s.forwardToOwner(r, rt.entityName, rt.id, rt.body)
			if ferr == nil {
				return v, nil
			}
			if errors.Is(ferr, eventfold.ErrOutcomeUnknown) {
				return nil, ferr // the owner may have appended it: the client decides
			}
			lastErr = ferr
		case errors.Is(err, eventfold.ErrOutcomeUnknown):
			// The events may be in the topic: a retry here could come after
			// the entity forgot the key and decide anew, turning an applied
			// command into a 409. The client retries with the same key.
			return nil, err
		case isAny(err, rt.transient):
			lastErr = err
		default:
			return nil, err
		}
		if time.Now().Add(backoff).After(deadline) {
			return rt.noOwner(lastErr)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 500*time.Millisecond)
	}
}

func isAny(err error, targets []error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

// giveUp is the noOwner of a route without a fallback: the final error.
// what says what did not happen in time ("no owner answered").
func (s *Server) giveUp(entityName, id, what string) func(lastErr error) (any, error) {
	return func(lastErr error) (any, error) {
		// One sentinel per outcome: lastErr is text, not a second %w.
		return nil, fmt.Errorf("%w: %s %s: %s within %v: %v", gaveUp(lastErr), entityName, short(id), what, s.cfg.lookupDeadline, lastErr)
	}
}

// gaveUp is the sentinel of a request that no owner answered in time: 502
// when the last owner asked answered brokenly, else 503. It is the only
// sentinel of the final error (the last error is quoted as text).
func gaveUp(lastErr error) error {
	if errors.Is(lastErr, ErrBadGateway) {
		return ErrBadGateway
	}
	return eventfold.ErrUnavailable
}
