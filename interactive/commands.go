package interactive

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/eventfold/eventfold"
	"github.com/eventfold/eventfold/entity"
)

// Commander carries out commands and waits for offsets; the processor
// implements it. Stores without it (replicas) forward to the owner.
type Commander interface {
	Execute(ctx context.Context, entityName, key string, cmd []byte, opts entity.CommandOptions) (entity.CommandResult, error)
	WaitApplied(ctx context.Context, entityName, key string, offset int64) error
}

// HeaderIdempotencyKey names a command for retries.
const HeaderIdempotencyKey = "Idempotency-Key"

// CommandResponse is the body of a carried-out command.
type CommandResponse struct {
	Entity    string          `json:"entity"`
	ID        string          `json:"id"`
	CommandID string          `json:"command_id"`
	Type      string          `json:"type,omitempty"`
	Version   uint64          `json:"version"`
	Partition int32           `json:"partition"`
	Offset    int64           `json:"offset"`
	Events    int             `json:"events"`
	Duplicate bool            `json:"duplicate"`
	State     json.RawMessage `json:"state"`
}

// command handles POST /v1/{entity}/{id}/commands: on the owner it runs
// the command; elsewhere it forwards once to the owner. Standbys never
// answer writes.
func (s *Server) command(w http.ResponseWriter, r *http.Request) {
	if err := s.runCommand(w, r); err != nil {
		writeError(w, err)
	}
}

func (s *Server) runCommand(w http.ResponseWriter, r *http.Request) error {
	typ, entityName, id, err := s.target(r)
	if err != nil {
		return err
	}
	if !typ.HasCommands() {
		return fmt.Errorf("%w: entity type %s takes no commands (append events instead)", eventfold.ErrInvalid, entityName)
	}
	opts, err := commandOptions(r.Header, r.URL.RawQuery)
	if err != nil {
		return err
	}
	body, err := readBody(r, s.cfg.maxBody)
	if err != nil {
		return err
	}
	if opts.ID == "" {
		// Named here, so a retry after a lost forward cannot run it twice.
		opts.ID = randomID()
		r.Header.Set(HeaderIdempotencyKey, opts.ID)
	}
	forwarded := r.Header.Get(HeaderHop) != ""
	ctx := r.Context()
	deadline := time.Now().Add(s.cfg.lookupDeadline)
	backoff := 20 * time.Millisecond
	var lastErr error
	for {
		var res entity.CommandResult
		err := fmt.Errorf("%w: this node runs no commands", eventfold.ErrNotOwner)
		if c, ok := s.store.(Commander); ok {
			res, err = c.Execute(ctx, entityName, id, body, opts)
		}
		switch {
		case err == nil:
			state, jerr := typ.StateJSON(res.State)
			if jerr != nil {
				return jerr
			}
			w.Header().Set(HeaderServedBy, s.self.ID)
			writeJSON(w, http.StatusOK, CommandResponse{
				Entity: entityName, ID: id, CommandID: res.CommandID, Type: res.Type, Version: res.Version,
				Partition: res.Partition, Offset: res.Offset, Events: res.Events, Duplicate: res.Duplicate, State: state,
			})
			return nil
		case errors.Is(err, eventfold.ErrNotOwner):
			if forwarded {
				return err
			}
			done, ferr := s.forwardToOwnerWith(w, r, entityName, id, body)
			if done {
				return nil
			}
			if errors.Is(ferr, eventfold.ErrOutcomeUnknown) {
				return ferr // the owner may have appended it: the client decides
			}
			lastErr = ferr
		case errors.Is(err, eventfold.ErrOutcomeUnknown):
			// The events may be in the topic: a retry here could come after
			// the entity forgot the key and decide anew, turning an applied
			// command into a 409. The client retries with the same key.
			return err
		case errors.Is(err, eventfold.ErrNotRecovered), errors.Is(err, eventfold.ErrUnavailable):
			if forwarded {
				return err
			}
			lastErr = err
		default:
			return err
		}
		if time.Now().Add(backoff).After(deadline) {
			// One sentinel per outcome: lastErr is text, not a second %w.
			return fmt.Errorf("%w: %s %s: no owner took the command within %v: %v", gaveUp(lastErr), entityName, short(id), s.cfg.lookupDeadline, lastErr)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 500*time.Millisecond)
	}
}

func randomID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
