package entity

import (
	"fmt"

	"github.com/eventfold/eventfold"
)

// CommandOptions qualify one command.
type CommandOptions struct {
	// ID identifies the command; a retry with the same ID returns the first
	// result and appends nothing (Idempotency-Key). Default: random.
	ID string
	// ExpectedVersion, if set, must equal the entity's version (If-Match).
	ExpectedVersion *uint64
	// MustExist requires the entity to exist, version >= 1 (If-Match: *).
	MustExist bool
}

// CommandResult is a command carried out.
type CommandResult struct {
	CommandID string
	Type      string
	Version   uint64 // the entity's version after the command's events
	Partition int32
	Offset    int64  // offset of the command's last event
	Events    int    // events appended by this call (0 for a duplicate)
	State     []byte // the entity's current state
	Duplicate bool   // answered from an earlier execution of the same ID
}

// ConflictError is a command decided on a version the entity is no longer
// at. It matches eventfold.ErrConflict.
type ConflictError struct {
	Expected, Current uint64
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("version conflict: expected %d, entity is at %d", e.Expected, e.Current)
}

// Is makes errors.Is(err, eventfold.ErrConflict) true.
func (e *ConflictError) Is(target error) bool { return target == eventfold.ErrConflict }

// Is makes errors.Is(err, eventfold.ErrRejected) true.
func (e *RejectedError) Is(target error) bool { return target == eventfold.ErrRejected }
