package interactive

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/eventfold/eventfold"
	"github.com/eventfold/eventfold/table"
)

// Historian answers history and point-in-time queries; the processor
// implements it (on the owner of the key's partition).
type Historian interface {
	History(ctx context.Context, entityName, key string, after int64, limit int) (table.HistoryPage, error)
	StateAt(ctx context.Context, entityName, key string, version uint64, asOf time.Time) (table.Entry, error)
}

// HistoryResponse is the body of GET /v1/{entity}/{id}/events.
type HistoryResponse struct {
	Entity string         `json:"entity"`
	ID     string         `json:"id"`
	Events []HistoryEvent `json:"events"`
	Next   *int64         `json:"next"` // pass as ?after= for the next page; null at the end
	Limit  int            `json:"limit"`
}

// HistoryEvent is one listed event.
type HistoryEvent struct {
	Partition int32           `json:"partition"`
	Offset    int64           `json:"offset"`
	Timestamp time.Time       `json:"timestamp"`
	Type      string          `json:"type,omitempty"`
	Applied   bool            `json:"applied"`
	Version   uint64          `json:"version"` // the entity's version after the event
	Payload   json.RawMessage `json:"payload"`
}

// defaultHistoryPage is the page size without ?limit=.
const defaultHistoryPage = 100

func (s *Server) history(w http.ResponseWriter, r *http.Request) {
	if err := s.runHistory(w, r); err != nil {
		writeError(w, err)
	}
}

func (s *Server) runHistory(w http.ResponseWriter, r *http.Request) error {
	_, entityName, id, err := s.target(r)
	if err != nil {
		return err
	}
	hq, err := parseHistoryQuery(r.URL.RawQuery)
	if err != nil {
		return err
	}
	after, limit := hq.after, hq.limit
	return s.atOwner(w, r, entityName, id, func(ctx context.Context) error {
		h, ok := s.store.(Historian)
		if !ok {
			return fmt.Errorf("%w: this node keeps no history", eventfold.ErrNotOwner)
		}
		page, err := h.History(ctx, entityName, id, after, limit)
		if err != nil {
			return err
		}
		w.Header().Set(HeaderServedBy, s.self.ID)
		if err := writeHistory(w, entityName, id, limit, page); err != nil {
			// The status is sent: the client sees a cut body, nothing else to do.
			s.cfg.Logger.Debug("history response cut", slog.String("entity", entityName), slog.String("id", id), slog.Any("error", err))
		}
		return nil
	})
}

// writeHistory writes page as a HistoryResponse, byte for byte what
// writeJSON would, but piece by piece: the head, each event encoded and
// written on its own, the tail. Beside the page (whose payloads are bounded
// by the processor's page bytes) it holds one encoded event, not the whole
// encoded page.
func writeHistory(w http.ResponseWriter, entityName, id string, limit int, page table.HistoryPage) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf) // HTML-escaping, as writeJSON's
	put := func(v any) error {
		if err := enc.Encode(v); err != nil {
			return err
		}
		buf.Truncate(buf.Len() - 1) // Encode's newline
		return nil
	}
	flush := func() error {
		_, err := w.Write(buf.Bytes())
		buf.Reset()
		return err
	}
	buf.WriteString(`{"entity":`)
	if err := put(entityName); err != nil {
		return err
	}
	buf.WriteString(`,"id":`)
	if err := put(id); err != nil {
		return err
	}
	buf.WriteString(`,"events":[`)
	for i, e := range page.Events {
		if i > 0 {
			buf.WriteByte(',')
		}
		ev := HistoryEvent{Partition: e.Partition, Offset: e.Offset, Timestamp: e.Timestamp,
			Type: e.Type, Applied: e.Applied, Version: e.Version, Payload: e.Payload}
		if len(e.Payload) == 0 {
			ev.Payload = json.RawMessage(`""`)
		}
		if err := put(ev); err != nil {
			// Not JSON: the payload goes as a string.
			ev.Payload, _ = json.Marshal(string(e.Payload))
			if err := put(ev); err != nil {
				return err
			}
		}
		if err := flush(); err != nil {
			return err
		}
	}
	var next *int64
	if page.Next >= 0 {
		next = &page.Next
	}
	buf.WriteString(`],"next":`)
	if err := put(next); err != nil {
		return err
	}
	buf.WriteString(`,"limit":`)
	if err := put(limit); err != nil {
		return err
	}
	buf.WriteString("}\n")
	return flush()
}

// atOwner runs fn where key's partition is owned: here, or by one forward;
// it retries while ownership moves, within the lookup deadline. Standbys
// never answer. fn writes the response on success.
func (s *Server) atOwner(w http.ResponseWriter, r *http.Request, entityName, id string, fn func(ctx context.Context) error) error {
	forwarded := r.Header.Get(HeaderHop) != ""
	ctx := r.Context()
	deadline := time.Now().Add(s.cfg.lookupDeadline)
	backoff := 20 * time.Millisecond
	var lastErr error
	for {
		err := fn(ctx)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, eventfold.ErrNotOwner):
			if forwarded {
				return err
			}
			done, ferr := s.forwardToOwner(w, r, entityName, id)
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
			// One sentinel per outcome: lastErr is text, not a second %w.
			return fmt.Errorf("%w: %s %s: no owner answered within %v: %v", gaveUp(lastErr), entityName, short(id), s.cfg.lookupDeadline, lastErr)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 500*time.Millisecond)
	}
}
