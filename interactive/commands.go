package interactive

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/eventfold/eventfold"
	"github.com/eventfold/eventfold/processor"
)

// Commander carries out commands and waits for offsets; the processor
// implements it. Stores without it (replicas) forward to the owner.
type Commander interface {
	Execute(ctx context.Context, entity, key string, cmd []byte, opts processor.CommandOptions) (processor.CommandResult, error)
	WaitApplied(ctx context.Context, entity, key string, offset int64) error
}

// HeaderIdempotencyKey names a command for retries.
const HeaderIdempotencyKey = "Idempotency-Key"

// maxIdempotencyKey bounds Idempotency-Key values.
const maxIdempotencyKey = 256

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
	v := mux.Vars(r)
	entity, id := v["entity"], v["id"]
	typ, ok := s.store.Type(entity)
	if !ok {
		return fmt.Errorf("%w: unknown entity type %q", eventfold.ErrNotFound, entity)
	}
	if !typ.HasCommands() {
		return fmt.Errorf("%w: entity type %s takes no commands (append events instead)", eventfold.ErrInvalid, entity)
	}
	if len(id) > maxIDLen {
		return fmt.Errorf("%w: id longer than %d bytes", eventfold.ErrInvalid, maxIDLen)
	}
	body, err := readBody(r, s.cfg.maxBody)
	if err != nil {
		return err
	}
	opts, err := commandOptions(r)
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
		var res processor.CommandResult
		err := fmt.Errorf("%w: this node runs no commands", eventfold.ErrNotOwner)
		if c, ok := s.store.(Commander); ok {
			res, err = c.Execute(ctx, entity, id, body, opts)
		}
		switch {
		case err == nil:
			state, jerr := typ.StateJSON(res.State)
			if jerr != nil {
				return jerr
			}
			w.Header().Set(HeaderServedBy, s.self.ID)
			writeJSON(w, http.StatusOK, CommandResponse{
				Entity: entity, ID: id, CommandID: res.CommandID, Type: res.Type, Version: res.Version,
				Partition: res.Partition, Offset: res.Offset, Events: res.Events, Duplicate: res.Duplicate, State: state,
			})
			return nil
		case errors.Is(err, eventfold.ErrNotOwner):
			if forwarded {
				return err
			}
			done, ferr := s.forwardToOwnerWith(w, r, entity, id, body)
			if done {
				return nil
			}
			lastErr = ferr
		case errors.Is(err, eventfold.ErrNotRecovered), errors.Is(err, eventfold.ErrUnavailable):
			if forwarded {
				return err
			}
			lastErr = err
		default:
			return err
		}
		if time.Now().Add(backoff).After(deadline) {
			return fmt.Errorf("%w: %s %q: no owner took the command within %v: %w", eventfold.ErrUnavailable, entity, id, s.cfg.lookupDeadline, lastErr)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 500*time.Millisecond)
	}
}

func commandOptions(r *http.Request) (processor.CommandOptions, error) {
	var o processor.CommandOptions
	o.ID = r.Header.Get(HeaderIdempotencyKey)
	if len(o.ID) > maxIdempotencyKey {
		return o, fmt.Errorf("%w: %s longer than %d bytes", eventfold.ErrInvalid, HeaderIdempotencyKey, maxIdempotencyKey)
	}
	raw := strings.Trim(strings.TrimPrefix(r.Header.Get("If-Match"), "W/"), `"`)
	if q := r.URL.Query().Get("expected_version"); q != "" {
		if raw != "" && raw != q {
			return o, fmt.Errorf("%w: If-Match %q and expected_version %q disagree", eventfold.ErrInvalid, raw, q)
		}
		raw = q
	}
	if raw != "" {
		v, err := strconv.ParseUint(raw, 10, 64)
		if err != nil {
			return o, fmt.Errorf("%w: expected version %q is not a number", eventfold.ErrInvalid, raw)
		}
		o.ExpectedVersion = &v
	}
	return o, nil
}

func readBody(r *http.Request, limit int64) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, fmt.Errorf("%w: limit is %d bytes", ErrTooLarge, limit)
		}
		return nil, fmt.Errorf("%w: reading body: %v", eventfold.ErrInvalid, err)
	}
	return body, nil
}

func randomID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
