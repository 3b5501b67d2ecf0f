package entity

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"runtime/debug"

	"github.com/eventfold/eventfold"
	"github.com/eventfold/eventfold/codec"
	"github.com/eventfold/eventfold/limits"
)

// Entity declares an entity type: where its events are, how to decode them
// and how they change its state.
type Entity[S, E any] struct {
	// Name identifies the type in URLs, group and topic names: lower case
	// letters, digits, '-' and '_'. Required.
	Name string
	// Topic is the events topic. Default: Name + "-events".
	Topic string
	// Events decodes events; usually a *codec.Union of the event types. Required.
	Events codec.Codec[E]
	// State encodes the folded state in the table. Default: codec.JSON[S].
	State codec.Codec[S]
	// Evolve applies one event to a state and returns the new state. The
	// first event of an entity sees the zero S. Required; see the package
	// documentation for its threading rules.
	Evolve func(state S, event E) (S, error)
	// Commands, if set, enable POST /v1/{entity}/{id}/commands: see Commands.
	Commands CommandHandler[S, E]
	// MaxCommandEvents bounds the events one command may append: Execute
	// refuses a Decide that returns more (eventfold.ErrTooManyEvents, HTTP
	// 422) and the fold rejects longer command batches from other
	// producers. Default limits.EventsPerCommand (100).
	MaxCommandEvents int
}

// Definition is anything that describes an entity type; Entity is the one
// implementation.
type Definition interface {
	Type() (*Type, error)
}

// NameRE is what entity type names (and application names) must match:
// they end up in topic and group names.
var NameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// Type returns the type-erased description of e that the rest of eventfold
// works with, or an error naming what is missing.
func (e Entity[S, E]) Type() (*Type, error) {
	if !NameRE.MatchString(e.Name) {
		return nil, fmt.Errorf("entity: entity name %q must match %s", e.Name, NameRE)
	}
	if e.Events == nil {
		return nil, fmt.Errorf("entity: entity %s: Events codec is required", e.Name)
	}
	if e.Evolve == nil {
		return nil, fmt.Errorf("entity: entity %s: Evolve is required", e.Name)
	}
	topic := e.Topic
	if topic == "" {
		topic = e.Name + "-events"
	}
	var stateCodec codec.Codec[S] = e.State
	if stateCodec == nil {
		stateCodec = codec.JSON[S]{}
	}
	t := &Type{name: e.Name, topic: topic, maxCommandEvents: e.MaxCommandEvents}
	if t.maxCommandEvents == 0 {
		t.maxCommandEvents = limits.EventsPerCommand
	}
	if t.maxCommandEvents < 1 || t.maxCommandEvents > limits.MaxEventsPerCommand {
		return nil, fmt.Errorf("entity: entity %s: MaxCommandEvents = %d, want 1..%d", e.Name, e.MaxCommandEvents, limits.MaxEventsPerCommand)
	}
	namer, _ := e.Events.(interface{ TypeOf(E) string })
	if lister, ok := e.Events.(interface{ Types() []string }); ok {
		t.eventTypes = lister.Types()
	}
	eventType := func(ev E) string {
		if namer != nil {
			return namer.TypeOf(ev)
		}
		return fmt.Sprintf("%T", ev)
	}
	t.checkEvent = func(data []byte) (string, error) {
		ev, err := e.Events.Decode(data)
		if err != nil {
			return "", err
		}
		return eventType(ev), nil
	}
	t.apply = func(raw []byte, exists bool, data []byte) (out []byte, typ string, err error) {
		ev, err := e.Events.Decode(data)
		if err != nil {
			return nil, "", &FoldError{Reason: ReasonDecode, Err: err}
		}
		typ = eventType(ev)
		var state S
		if exists {
			if state, err = stateCodec.Decode(raw); err != nil {
				return nil, typ, &FoldError{Reason: ReasonState, Err: err}
			}
		}
		next, err := safeEvolve(e.Evolve, state, ev)
		var pe *panicError
		if errors.As(err, &pe) {
			return nil, typ, &FoldError{Reason: ReasonPanic, Err: err}
		}
		if errors.Is(err, ErrSkip) {
			return nil, typ, &FoldError{Reason: ReasonSkip, Err: err}
		}
		if err != nil {
			return nil, typ, &FoldError{Reason: ReasonEvolve, Err: err}
		}
		out, err = stateCodec.Encode(next)
		if err != nil {
			return nil, typ, &FoldError{Reason: ReasonState, Err: err}
		}
		return out, typ, nil
	}
	if e.Commands != nil {
		t.commandTypes = e.Commands.commandTypes()
		t.decide = func(raw []byte, exists bool, data []byte) (Decided, error) {
			var state S
			if exists {
				var err error
				if state, err = stateCodec.Decode(raw); err != nil {
					return Decided{}, &FoldError{Reason: ReasonState, Err: err}
				}
			}
			cmdType, events, err := e.Commands.decide(state, data)
			if err != nil {
				return Decided{CmdType: cmdType}, err
			}
			if len(events) == 0 {
				return Decided{CmdType: cmdType}, &RejectedError{Reason: "Decide returned no events"}
			}
			if len(events) > t.maxCommandEvents {
				return Decided{CmdType: cmdType}, fmt.Errorf("%w: Decide returned %d events, the limit is %d", eventfold.ErrTooManyEvents, len(events), t.maxCommandEvents)
			}
			// Fold the events aside first: a command whose own events do not
			// apply must not be half-appended.
			d := Decided{CmdType: cmdType}
			s := state
			for i, ev := range events {
				if s, err = safeEvolve(e.Evolve, s, ev); err != nil {
					return d, &RejectedError{Reason: fmt.Sprintf("event %d of %d does not apply: %v", i+1, len(events), err), Err: err}
				}
				b, err := e.Events.Encode(ev)
				if err != nil {
					return d, fmt.Errorf("entity: encode event %d: %w", i, err)
				}
				if len(b) > limits.EventBytes {
					return d, fmt.Errorf("%w: event %d of %d would take %d bytes, the limit is %d", eventfold.ErrStateTooLarge, i+1, len(events), len(b), limits.EventBytes)
				}
				d.Events = append(d.Events, b)
				d.Types = append(d.Types, eventType(ev))
			}
			out, err := stateCodec.Encode(s)
			if err != nil {
				return d, fmt.Errorf("entity: encode state: %w", err)
			}
			d.StateBytes = len(out)
			return d, nil
		}
	}
	_, stateIsJSON := stateCodec.(interface{ IsJSON() bool })
	t.stateJSON = func(raw []byte) (json.RawMessage, error) {
		if stateIsJSON {
			return json.RawMessage(raw), nil
		}
		s, err := stateCodec.Decode(raw)
		if err != nil {
			return nil, err
		}
		return json.Marshal(s)
	}
	return t, nil
}

// Type is an entity type with its Go types erased: what the processor, the
// query layer and the tools need to know about it. Build it with Entity.Type.
type Type struct {
	name, topic string
	eventTypes  []string
	checkEvent  func(data []byte) (string, error)
	apply       func(state []byte, exists bool, event []byte) ([]byte, string, error)
	stateJSON   func(raw []byte) (json.RawMessage, error)

	commandTypes     []string
	decide           func(state []byte, exists bool, cmd []byte) (Decided, error)
	maxCommandEvents int

	kind Kind
}

// safeEvolve calls evolve, turning a panic into a *panicError: user code
// runs on the fold's goroutine and on request goroutines (a command's
// pre-check), and neither may die of it.
func safeEvolve[S, E any](evolve func(S, E) (S, error), state S, ev E) (next S, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &panicError{fmt.Errorf("Evolve panicked: %v\n%s", r, debug.Stack())}
		}
	}()
	return evolve(state, ev)
}

type panicError struct{ err error }

func (e *panicError) Error() string { return e.err.Error() }
func (e *panicError) Unwrap() error { return e.err }

// HasCommands reports whether the type accepts commands.
func (t *Type) HasCommands() bool { return t.decide != nil }

// CommandTypes lists the command discriminators, when the codec knows them.
func (t *Type) CommandTypes() []string { return t.commandTypes }

// Name is the entity type's name.
func (t *Type) Name() string { return t.name }

// Topic is the events topic.
func (t *Type) Topic() string { return t.topic }

// DeadLetterTopic receives events that could not be applied.
func (t *Type) DeadLetterTopic() string { return t.topic + "-dlq" }

// EventTypes lists the event discriminators, when the codec knows them.
func (t *Type) EventTypes() []string { return t.eventTypes }

// CheckEvent decodes data as an event of this type and returns its
// discriminator, or the decoding error (wrapping codec.ErrDecode).
func (t *Type) CheckEvent(data []byte) (string, error) { return t.checkEvent(data) }

// StateJSON renders an encoded state as JSON.
func (t *Type) StateJSON(raw []byte) (json.RawMessage, error) { return t.stateJSON(raw) }

// Kind is what a Type folds: an entity type's events, or a projection's
// re-keyed inputs (package projection).
type Kind int

const (
	KindEntity Kind = iota
	KindProjection
)

// Kind says whether t is an entity type or a projection.
func (t *Type) Kind() Kind { return t.kind }

// AsProjection returns a copy of t marked as a projection: the API serves
// it under /v1/projections, takes no appends or commands for it, and its
// topic is written by the projection's re-keying.
func (t *Type) AsProjection() *Type {
	cp := *t
	cp.kind = KindProjection
	return &cp
}

// WithTopic returns a copy of t reading its events from topic.
func (t *Type) WithTopic(topic string) *Type {
	cp := *t
	cp.topic = topic
	return &cp
}

// Apply folds one encoded event into an encoded state (exists: there is
// one; else Evolve sees the zero state) and returns the new state and the
// event's discriminator. Its errors are *FoldError with the reason.
func (t *Type) Apply(state []byte, exists bool, event []byte) ([]byte, string, error) {
	return t.apply(state, exists, event)
}

// Decide decodes cmd and runs the entity's Decide on state, then folds the
// events aside to check that they apply; it fails for a type without
// commands.
func (t *Type) Decide(state []byte, exists bool, cmd []byte) (Decided, error) {
	if t.decide == nil {
		return Decided{}, fmt.Errorf("%w: entity type %s takes no commands", eventfold.ErrInvalid, t.name)
	}
	return t.decide(state, exists, cmd)
}

// MaxCommandEvents is the most events a command of this type may append.
func (t *Type) MaxCommandEvents() int { return t.maxCommandEvents }

// Reason classifies why an event went to the dead-letter topic.
type Reason string

const (
	ReasonDecode  Reason = "decode"  // the event bytes are not a known event
	ReasonEvolve  Reason = "evolve"  // Evolve returned an error (invalid transition)
	ReasonPanic   Reason = "panic"   // Evolve panicked
	ReasonState   Reason = "state"   // the stored state could not be decoded or the new one encoded
	ReasonNoKey   Reason = "no-key"  // the record has no key, so no entity
	ReasonHeaders Reason = "headers" // eventfold command headers present but malformed
	// ReasonStateTooLarge: the event is valid, but the entity's stored
	// envelope would exceed a table record (limits.EnvelopeBytes).
	ReasonStateTooLarge Reason = "state_too_large"
	// ReasonKeyTooLarge: the record's key is longer than limits.IDBytes.
	ReasonKeyTooLarge Reason = "key_too_large"
	// ReasonSkip: Evolve returned ErrSkip: the event is not applied, on
	// purpose, and not dead-lettered (a projection's duplicate input).
	ReasonSkip Reason = "skip"
	// ReasonCommand: an event of a command that the command rule did not
	// apply (decided on another version, out of order, or its command was
	// cut short). Such events stay in the topic and are not dead-lettered.
	ReasonCommand Reason = "command"
)

// Dead-letter record headers: why an event was not applied and where it
// came from. processor/deadletter.go writes them (its Header* constants
// are these), the subscribers' dead letters reuse them, and the API's
// GET /v1/deadletters/{entity} reads them.
const (
	DeadLetterHeaderError           = "eventfold-error"
	DeadLetterHeaderReason          = "eventfold-reason"
	DeadLetterHeaderEventType       = "eventfold-event-type"
	DeadLetterHeaderSourceTopic     = "eventfold-source-topic"
	DeadLetterHeaderSourcePartition = "eventfold-source-partition"
	DeadLetterHeaderSourceOffset    = "eventfold-source-offset"
	// DeadLetterHeaderValueOmitted carries the size of an event too large
	// to be copied into its dead letter; the source headers say where it is.
	DeadLetterHeaderValueOmitted = "eventfold-value-omitted"
	// DeadLetterHeaderKeyOmitted likewise for a key over limits.IDBytes.
	DeadLetterHeaderKeyOmitted = "eventfold-key-omitted"
)

// FoldError is why an event was not applied.
type FoldError struct {
	Reason Reason
	Err    error
}

func (e *FoldError) Error() string { return fmt.Sprintf("%s: %v", e.Reason, e.Err) }
func (e *FoldError) Unwrap() error { return e.Err }

// ErrSkip, returned by Evolve (or wrapped), says that the event is not
// applied on purpose: the version does not change, the history lists it
// as not applied with reason "skip", and it is not dead-lettered.
var ErrSkip = errors.New("entity: event skipped")

// ErrNoKey is the FoldError cause for records without a key.
var ErrNoKey = errors.New("record has no key")
