package entity

import (
	"fmt"
	"runtime/debug"

	"github.com/eventfold/eventfold/codec"
)

// Commands declares the write side of an entity type: how commands are
// decoded and the pure Decide that turns the current state and a command
// into the events to append. Set it as Entity.Commands.
type Commands[S, E, C any] struct {
	// Codec decodes commands; usually a *codec.Union. Required.
	Codec codec.Codec[C]
	// Decide validates cmd against state and returns the events that carry
	// it out, or an error saying why the domain refuses it (HTTP 422). Like
	// Evolve it must be pure. The first command of an entity sees the zero S
	// (exists is then false in the envelope).
	Decide func(state S, cmd C) ([]E, error)
}

// CommandHandler is implemented by Commands; it keeps the command type C out
// of Entity's type parameters.
type CommandHandler[S, E any] interface {
	decide(state S, data []byte) (cmdType string, events []E, err error)
	commandTypes() []string
}

func (c Commands[S, E, C]) decide(state S, data []byte) (cmdType string, events []E, err error) {
	if c.Codec == nil || c.Decide == nil {
		return "", nil, fmt.Errorf("entity: Commands needs a Codec and a Decide")
	}
	cmd, err := c.Codec.Decode(data)
	if err != nil {
		return "", nil, err
	}
	if namer, ok := c.Codec.(interface{ TypeOf(C) string }); ok {
		cmdType = namer.TypeOf(cmd)
	} else {
		cmdType = fmt.Sprintf("%T", cmd)
	}
	defer func() {
		if r := recover(); r != nil {
			err = &RejectedError{Reason: fmt.Sprintf("Decide panicked: %v", r), Err: fmt.Errorf("%v\n%s", r, debug.Stack())}
		}
	}()
	events, err = c.Decide(state, cmd)
	if err != nil {
		return cmdType, nil, &RejectedError{Reason: err.Error(), Err: err}
	}
	return cmdType, events, nil
}

func (c Commands[S, E, C]) commandTypes() []string {
	if lister, ok := c.Codec.(interface{ Types() []string }); ok {
		return lister.Types()
	}
	return nil
}

// RejectedError is a domain's refusal of a command. It matches
// eventfold.ErrRejected.
type RejectedError struct {
	Reason string
	Err    error
}

func (e *RejectedError) Error() string { return "rejected: " + e.Reason }
func (e *RejectedError) Unwrap() error { return e.Err }

// Decided is a command turned into events, checked against the state.
type Decided struct {
	CmdType string
	Events  [][]byte // encoded
	Types   []string
	// StateBytes is the size of the encoded state after all the events.
	StateBytes int
}
