package interactive

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/eventfold/eventfold"
	"github.com/eventfold/eventfold/table"
)

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

// errNoHistory is a history or point-in-time query on a node that owns no
// partition: it goes to the owner.
var errNoHistory = fmt.Errorf("%w: this node keeps no history", eventfold.ErrNotOwner)

// history handles GET /v1/{entity}/{id}/events, on the owner only: the
// history lives with the partition. Standbys never answer.
func (s *Server) history(r *http.Request) (any, error) {
	_, entityName, id, err := s.target(r)
	if err != nil {
		return nil, err
	}
	hq, err := parseHistoryQuery(r.URL.RawQuery)
	if err != nil {
		return nil, err
	}
	return s.route(r, ownerRoute{
		entityName: entityName, id: id,
		local: func(ctx context.Context) (any, error) {
			if s.b.Historian == nil {
				return nil, errNoHistory
			}
			page, err := s.b.Historian.History(ctx, entityName, id, hq.after, hq.limit)
			if err != nil {
				return nil, err
			}
			return historyAnswer{entityName: entityName, id: id, limit: hq.limit, page: page, servedBy: s.self.ID, logger: s.cfg.Logger}, nil
		},
		transient: transient,
		noOwner:   s.giveUp(entityName, id, "no owner answered"),
	})
}

// historyAnswer is a page written as it is encoded (writeHistory), not
// encoded whole first.
type historyAnswer struct {
	entityName, id string
	limit          int
	page           table.HistoryPage
	servedBy       string
	logger         *slog.Logger
}

func (a historyAnswer) respond(w http.ResponseWriter) {
	w.Header().Set(HeaderServedBy, a.servedBy)
	if err := writeHistory(w, a.entityName, a.id, a.limit, a.page); err != nil {
		// The status is sent: the client sees a cut body, nothing else to do.
		a.logger.Debug("history response cut", slog.String("entity", a.entityName), slog.String("id", a.id), slog.Any("error", err))
	}
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
