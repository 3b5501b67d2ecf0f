package subscriber

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/eventfold/eventfold/codec"
	"github.com/eventfold/eventfold/entity"
)

// Delivery is one event handed to a subscriber, with what the fold made of
// it. A webhook receives it as JSON.
type Delivery struct {
	Subscriber string `json:"subscriber"`
	Entity     string `json:"entity"`
	ID         string `json:"id"`
	// EventID is stable across redeliveries and nodes:
	// "<events topic>/<partition>/<offset>".
	EventID string `json:"event_id"`
	// Type is the event's type ("" if it does not decode).
	Type string `json:"type,omitempty"`
	// Event is the event as stored (JSON for the codecs eventfold ships).
	Event json.RawMessage `json:"event"`
	// Applied says whether the fold applied the event; Reason says why not.
	Applied bool   `json:"applied"`
	Reason  string `json:"reason,omitempty"`
	// Version is the number of events applied to the entity, this one
	// included if applied.
	Version uint64 `json:"version"`
	// State is the entity's state right after this event (unchanged if
	// not applied), as JSON; null before its first applied event.
	State json.RawMessage `json:"state"`
	// CommandID is the command that appended the event, if one did.
	CommandID string    `json:"command_id,omitempty"`
	Partition int32     `json:"partition"`
	Offset    int64     `json:"offset"`
	Timestamp time.Time `json:"timestamp"`
	// Attempt counts from 1.
	Attempt int `json:"attempt"`

	rawState  []byte // the state in the entity's state codec
	exists    bool
	rawBefore []byte // the applied state before the event, likewise
	hadBefore bool
	topic     string
}

// RawStates returns the entity's applied state before and right after the
// event, in its state codec (Entity.State), each with whether the entity
// existed (had applied an event) then. A stage built on a subscriber (a
// projection's re-keying) decodes them with the entity's own codec. A
// delivery decoded from JSON has none.
func (d Delivery) RawStates() (before []byte, beforeExists bool, after []byte, afterExists bool) {
	return d.rawBefore, d.hadBefore, d.rawState, d.exists
}

// MarshalJSON writes an event that is not JSON (one that did not decode)
// as a JSON string, so that a delivery always encodes.
func (d Delivery) MarshalJSON() ([]byte, error) {
	type plain Delivery
	p := plain(d)
	if len(p.Event) > 0 && !json.Valid(p.Event) {
		b, _ := json.Marshal(string(p.Event))
		p.Event = b
	}
	if len(p.State) == 0 {
		p.State = json.RawMessage("null")
	}
	if len(p.Event) == 0 {
		p.Event = json.RawMessage("null")
	}
	return json.Marshal(p)
}

// Decode returns the delivery's event and state as e's Go types. The
// state is the zero S before the entity's first applied event. A delivery
// decoded from JSON (a webhook's body) has its state decoded from that
// JSON.
func Decode[S, E any](e entity.Entity[S, E], d Delivery) (S, E, error) {
	var s S
	ev, err := e.Events.Decode(d.Event)
	if err != nil {
		return s, ev, fmt.Errorf("subscriber: decode %s event %s: %w", d.Entity, d.EventID, err)
	}
	if !d.exists {
		// A delivery made elsewhere (decoded from a webhook's JSON, built in
		// a test) has only the JSON state.
		if len(d.State) > 0 && string(d.State) != "null" {
			if err := json.Unmarshal(d.State, &s); err != nil {
				return s, ev, fmt.Errorf("subscriber: decode %s state at %s: %w", d.Entity, d.EventID, err)
			}
		}
		return s, ev, nil
	}
	var sc codec.Codec[S] = e.State
	if sc == nil {
		sc = codec.JSON[S]{}
	}
	if s, err = sc.Decode(d.rawState); err != nil {
		return s, ev, fmt.Errorf("subscriber: decode %s state at %s: %w", d.Entity, d.EventID, err)
	}
	return s, ev, nil
}

// On adapts a typed handler for entity type e. Deliveries of other entity
// types are an error (a subscriber that follows several types dispatches
// on Delivery.Entity first).
func On[S, E any](e entity.Entity[S, E], fn func(ctx context.Context, d Delivery, state S, event E) error) Handler {
	return HandlerFunc(func(ctx context.Context, d Delivery) error {
		if d.Entity != e.Name {
			return Permanent(fmt.Errorf("subscriber: a %s handler got a %s event", e.Name, d.Entity))
		}
		s, ev, err := Decode(e, d)
		if err != nil {
			return Permanent(err)
		}
		return fn(ctx, d, s, ev)
	})
}
