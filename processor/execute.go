package processor

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"sync"

	"github.com/IBM/sarama"

	"github.com/eventfold/eventfold"
	"github.com/eventfold/eventfold/entity"
	"github.com/eventfold/eventfold/kafka"
	"github.com/eventfold/eventfold/limits"
	"github.com/eventfold/eventfold/table"
)

// keyLocks serialises commands per key on this node.
type keyLocks [256]sync.Mutex

func (l *keyLocks) lock(key string) func() {
	h := fnv.New32a()
	h.Write([]byte(key))
	m := &l[h.Sum32()%uint32(len(l))]
	m.Lock()
	return m.Unlock
}

// Execute carries out a command on the owner of key's partition: it decides
// against the current state, appends the events (acks=all, idempotent), waits
// until its own fold applied them and returns the result.
//
// Errors: *table.NotOwnerError (eventfold.ErrNotOwner) on other nodes;
// eventfold.ErrNotRecovered while the partition recovers; eventfold.ErrInvalid
// for an undecodable command or a type without commands; *entity.RejectedError
// (eventfold.ErrRejected) when Decide refuses; *entity.ConflictError
// (eventfold.ErrConflict) on a version mismatch, including losing a race
// with another writer.
func (p *Processor) Execute(ctx context.Context, entityName, key string, cmd []byte, opts entity.CommandOptions) (entity.CommandResult, error) {
	rt, part, err := p.locate(entityName, key)
	if err != nil {
		return entity.CommandResult{}, err
	}
	if !rt.typ.HasCommands() {
		return entity.CommandResult{}, fmt.Errorf("%w: entity type %s takes no commands", eventfold.ErrInvalid, entityName)
	}
	if !rt.owns(part) {
		return entity.CommandResult{}, &table.NotOwnerError{Entity: entityName, Partition: part}
	}
	if opts.ID == "" {
		opts.ID = newCommandID()
	}
	unlock := p.cmdLocks.lock(entityName + "/" + key)
	defer unlock()

	// Fold everything already in the partition first: an earlier attempt of
	// this command (same ID, before a crash) must be seen before deciding.
	if err := p.catchUp(ctx, rt, part); err != nil {
		return entity.CommandResult{}, err
	}
	env, size, err := rt.stores.Envelope(rt.typ.Name(), part, key)
	if err != nil {
		return entity.CommandResult{}, err
	}
	exists := env.Version > 0
	fp := fingerprint(cmd, opts)
	if rec, ok := env.Command(opts.ID); ok {
		if rec.Fingerprint != 0 && rec.Fingerprint != fp {
			return entity.CommandResult{}, fmt.Errorf("%w: %q named another command of %s %q", eventfold.ErrIdempotencyKeyReused, limits.Truncate(opts.ID, 64), entityName, limits.Truncate(key, 64))
		}
		return entity.CommandResult{CommandID: opts.ID, Version: rec.Version, Partition: part, Offset: rec.Offset, State: env.State, Duplicate: true}, nil
	}
	if opts.ExpectedVersion != nil && *opts.ExpectedVersion != env.Version {
		return entity.CommandResult{}, &entity.ConflictError{Expected: *opts.ExpectedVersion, Current: env.Version}
	}
	if opts.MustExist && !exists {
		return entity.CommandResult{}, &entity.ConflictError{Expected: 1, Current: env.Version}
	}
	decidedOn := env.Version
	d, err := rt.typ.Decide(env.State, exists, cmd)
	if err != nil {
		var rej *entity.RejectedError
		if errors.As(err, &rej) {
			return entity.CommandResult{Type: d.CmdType}, err
		}
		if errors.Is(err, eventfold.ErrTooManyEvents) || errors.Is(err, eventfold.ErrStateTooLarge) {
			return entity.CommandResult{Type: d.CmdType}, err
		}
		return entity.CommandResult{Type: d.CmdType}, fmt.Errorf("%w: %v", eventfold.ErrInvalid, err)
	}
	// The fold would dead-letter a state that outgrows a table record; say
	// so now instead of appending events that will not apply.
	if nonState := max(size-len(env.State), 0); len(key)+nonState+d.StateBytes > envelopeRoom-rt.headroom() {
		return entity.CommandResult{Type: d.CmdType}, fmt.Errorf("%w: the state of %s %q would take %d bytes, the limit is about %d",
			eventfold.ErrStateTooLarge, entityName, limits.Truncate(key, 64), d.StateBytes, envelopeRoom-rt.headroom()-len(key)-nonState)
	}

	recs := make([]kafka.Record, len(d.Events))
	for i, ev := range d.Events {
		recs[i] = kafka.Record{Topic: rt.typ.Topic(), Key: key, Value: ev, Headers: []sarama.RecordHeader{
			{Key: []byte(HeaderCommandID), Value: []byte(opts.ID)},
			{Key: []byte(HeaderExpectedVersion), Value: []byte(strconv.FormatUint(env.Version, 10))},
			{Key: []byte(HeaderBatch), Value: []byte(fmt.Sprintf("%d/%d", i, len(d.Events)))},
			{Key: []byte(HeaderFingerprint), Value: []byte(strconv.FormatUint(fp, 16))},
		}}
	}
	pr, err := p.producer()
	if err != nil {
		return entity.CommandResult{}, fmt.Errorf("%w: %v", eventfold.ErrUnavailable, err)
	}
	// Records handed to the producer may be written whatever the caller
	// does next. Hold the key's lock until Kafka answered, even if the
	// caller gave up: a retry with the same Idempotency-Key must find the
	// first attempt in the topic, not append the command again.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	pos, err := pr.SendAll(sctx, recs)
	cancel()
	if err != nil {
		var ce sarama.ConfigurationError
		if errors.Is(err, sarama.ErrMessageSizeTooLarge) || errors.As(err, &ce) {
			// The broker's limit is below eventfold's: retrying cannot help.
			return entity.CommandResult{}, fmt.Errorf("%w: an event of command %s is larger than Kafka accepts: %v", eventfold.ErrStateTooLarge, limits.Truncate(opts.ID, 64), err)
		}
		// Records handed to the producer may be written even when it
		// reports a failure (a timeout after the broker took them).
		return entity.CommandResult{}, fmt.Errorf("%w: append command %s: %v", eventfold.ErrOutcomeUnknown, limits.Truncate(opts.ID, 64), err)
	}
	last := pos[len(pos)-1]
	if last.Partition != part {
		return entity.CommandResult{}, fmt.Errorf("processor: command events of %q landed in partition %d, expected %d: producers and processor disagree on the partitioner", key, last.Partition, part)
	}
	if err := rt.progress.wait(ctx, part, last.Offset); err != nil {
		return entity.CommandResult{}, fmt.Errorf("%w: waiting for the fold of command %s: %v", eventfold.ErrOutcomeUnknown, limits.Truncate(opts.ID, 64), err)
	}
	env, _, err = rt.stores.Envelope(rt.typ.Name(), part, key)
	if err != nil {
		return entity.CommandResult{}, err
	}
	rec, ok := env.Command(opts.ID)
	if !ok {
		if env.Forgets(last.Offset) {
			// More commands applied after ours than the envelope remembers
			// (ownership moved while we waited, and other nodes folded on):
			// whether ours applied is no longer written anywhere we look.
			return entity.CommandResult{}, fmt.Errorf("%w: command %s: %d newer commands applied since its events at offset %d",
				eventfold.ErrOutcomeUnknown, limits.Truncate(opts.ID, 64), table.MaxCommandRecords, last.Offset)
		}
		// Another writer's event came first: our events stay in the topic,
		// rejected by the fold.
		return entity.CommandResult{}, &entity.ConflictError{Expected: decidedOn, Current: env.Version}
	}
	return entity.CommandResult{
		CommandID: opts.ID, Type: d.CmdType, Version: rec.Version, Partition: part, Offset: rec.Offset,
		Events: len(d.Events), State: env.State, Duplicate: rec.Offset != last.Offset,
	}, nil
}

// catchUp waits until the fold reached the end of the partition as it is now.
func (p *Processor) catchUp(ctx context.Context, rt *entityRuntime, part int32) error {
	client, err := p.client()
	if err != nil {
		return fmt.Errorf("%w: %v", eventfold.ErrUnavailable, err)
	}
	hwm, err := client.GetOffset(rt.typ.Topic(), part, sarama.OffsetNewest)
	if err != nil {
		return fmt.Errorf("%w: end offset of %s/%d: %v", eventfold.ErrUnavailable, rt.typ.Topic(), part, err)
	}
	if hwm == 0 {
		return nil
	}
	return rt.progress.wait(ctx, part, hwm-1)
}

// WaitApplied blocks until the fold on this node has reached offset of the
// partition that key of entity is in (read-your-writes), or ctx ends.
func (p *Processor) WaitApplied(ctx context.Context, entityName, key string, offset int64) error {
	rt, part, err := p.locate(entityName, key)
	if err != nil {
		return err
	}
	if !rt.owns(part) {
		return &table.NotOwnerError{Entity: entityName, Partition: part}
	}
	return rt.progress.wait(ctx, part, offset)
}

// fingerprint identifies a command request: its body and what it expects
// of the entity's version. 0 is kept for "unknown" (events written before
// fingerprints).
func fingerprint(cmd []byte, o entity.CommandOptions) uint64 {
	h := sha256.New()
	h.Write(cmd)
	if o.ExpectedVersion != nil {
		h.Write([]byte{0})
		h.Write(strconv.AppendUint(nil, *o.ExpectedVersion, 10))
	}
	if o.MustExist {
		h.Write([]byte{0, '*'})
	}
	fp := binary.BigEndian.Uint64(h.Sum(nil))
	return max(fp, 1)
}

func newCommandID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
