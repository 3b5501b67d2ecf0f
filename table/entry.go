package table

import (
	"fmt"
	"time"

	"github.com/eventfold/eventfold"
)

// Entry is one entity's current state as stored on this node.
type Entry struct {
	Entity    string
	Key       string
	State     []byte // encoded with the entity's state codec; see Type.StateJSON
	Version   uint64 // events applied
	Partition int32
	Offset    int64 // offset of the last applied event
	UpdatedAt time.Time
	// Lag is how many changelog records the copy that answered was behind
	// the changelog's end: 0 for the owner's table, -1 when unknown.
	Lag int64
	// Stale marks an answer from a copy that does not own the partition.
	Stale bool
}

// NotOwnerError says which partition a key is in and that this node does not
// own it. It matches eventfold.ErrNotOwner.
type NotOwnerError struct {
	Entity    string
	Partition int32
}

func (e *NotOwnerError) Error() string {
	return fmt.Sprintf("%s partition %d is not owned by this node", e.Entity, e.Partition)
}

// Is makes errors.Is(err, eventfold.ErrNotOwner) true.
func (e *NotOwnerError) Is(target error) bool { return target == eventfold.ErrNotOwner }

// EntryFromStored decodes a table value (an Envelope) into an Entry.
func EntryFromStored(entity, key string, partition int32, raw []byte) (Entry, error) {
	var env Envelope
	if err := env.UnmarshalBinary(raw); err != nil {
		return Entry{}, fmt.Errorf("table: %s %q: %w", entity, key, err)
	}
	if env.Version == 0 {
		// Only an unfinished command so far: nothing applied.
		return Entry{}, fmt.Errorf("%w: %s %q", eventfold.ErrNotFound, entity, key)
	}
	return Entry{
		Entity: entity, Key: key, State: env.State, Version: env.Version,
		Partition: partition, Offset: env.Offset, UpdatedAt: env.UpdatedAt,
	}, nil
}
