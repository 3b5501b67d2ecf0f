package interactive

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/eventfold/eventfold"
)

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

// errNoCommands is a command on a node that owns no partition: it goes to
// the owner.
var errNoCommands = fmt.Errorf("%w: this node runs no commands", eventfold.ErrNotOwner)

// command handles POST /v1/{entity}/{id}/commands: on the owner it runs
// the command; elsewhere it forwards once to the owner. Standbys never
// answer writes.
func (s *Server) command(r *http.Request) (any, error) {
	typ, entityName, id, err := s.target(r)
	if err != nil {
		return nil, err
	}
	if !typ.HasCommands() {
		return nil, fmt.Errorf("%w: entity type %s takes no commands (append events instead)", eventfold.ErrInvalid, entityName)
	}
	opts, err := commandOptions(r.Header, r.URL.RawQuery)
	if err != nil {
		return nil, err
	}
	body, err := readBody(r, s.cfg.maxBody)
	if err != nil {
		return nil, err
	}
	if opts.ID == "" {
		// Named here, so a retry after a lost forward cannot run it twice.
		opts.ID = randomID()
		r.Header.Set(HeaderIdempotencyKey, opts.ID)
	}
	return s.route(r, ownerRoute{
		entityName: entityName, id: id, body: body,
		local: func(ctx context.Context) (any, error) {
			if s.b.Commander == nil {
				return nil, errNoCommands
			}
			res, err := s.b.Commander.Execute(ctx, entityName, id, body, opts)
			if err != nil {
				return nil, err
			}
			state, err := typ.StateJSON(res.State)
			if err != nil {
				return nil, err
			}
			return s.servedBy(CommandResponse{
				Entity: entityName, ID: id, CommandID: res.CommandID, Type: res.Type, Version: res.Version,
				Partition: res.Partition, Offset: res.Offset, Events: res.Events, Duplicate: res.Duplicate, State: state,
			}), nil
		},
		transient: transient,
		noOwner:   s.giveUp(entityName, id, "no owner took the command"),
	})
}

func randomID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
