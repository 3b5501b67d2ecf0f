package subscriber

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/eventfold/eventfold"
)

// Command is one command a process manager sends to an entity.
type Command struct {
	Entity string
	ID     string
	// Body is the command as POST /v1/{entity}/{id}/commands takes it:
	// JSON with its "type".
	Body []byte
}

// Commander carries out a command on the owner of its entity, wherever
// that is. Package node gives each Runner one that routes like
// POST /v1/{entity}/{id}/commands (forwarding to the owner).
type Commander interface {
	Command(ctx context.Context, entityName, id string, body []byte, idempotencyKey string) error
}

// ProcessManager is a handler that turns an event of one entity into
// commands on others (an order ships: the customer records the purchase).
// Each command goes with an Idempotency-Key derived from the delivery's
// event id, the subscriber and the command's position, so a redelivery
// (at-least-once) sends the same key and the entity applies it once.
//
// The dedupe holds while the target entity remembers the key: it keeps its
// last table.MaxCommandRecords (16) commands. A redelivery comes after a
// crash or a rebalance, seconds later; a target that takes more than 16
// other commands in that time needs a command that is idempotent in its
// own right (docs/subscribers.md).
type ProcessManager struct {
	// Decide returns the commands for a delivery; none is fine. It should
	// depend on the delivery only (its event and state), so a redelivery
	// decides the same commands.
	Decide func(d Delivery) ([]Command, error)
}

// Handle sends the decided commands in order. A command the domain
// refuses (or that is invalid) is permanent: the delivery is
// dead-lettered with the reason. Anything else is retried with the same
// keys.
func (pm ProcessManager) Handle(ctx context.Context, d Delivery) error {
	c, _ := ctx.Value(commanderKey{}).(Commander)
	if c == nil {
		return Permanent(errors.New("process manager: no Commander (run it in a node, or give the Runner WithCommander)"))
	}
	cmds, err := pm.Decide(d)
	if err != nil {
		return Permanent(fmt.Errorf("process manager: decide: %w", err))
	}
	for i, cmd := range cmds {
		err := c.Command(ctx, cmd.Entity, cmd.ID, cmd.Body, IdempotencyKey(d, i))
		switch {
		case err == nil:
		case errors.Is(err, eventfold.ErrRejected), errors.Is(err, eventfold.ErrInvalid), errors.Is(err, eventfold.ErrNotFound),
			errors.Is(err, eventfold.ErrTooManyEvents), errors.Is(err, eventfold.ErrStateTooLarge), errors.Is(err, eventfold.ErrIdempotencyKeyReused):
			return Permanent(fmt.Errorf("process manager: command %d of %d (%s %s): %w", i+1, len(cmds), cmd.Entity, cmd.ID, err))
		default:
			return fmt.Errorf("process manager: command %d of %d (%s %s): %w", i+1, len(cmds), cmd.Entity, cmd.ID, err)
		}
	}
	return nil
}

// IdempotencyKey is the key of the i-th command a process manager sends
// for d: the same for every delivery of the same event to the same
// subscriber.
func IdempotencyKey(d Delivery, i int) string {
	h := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%d", d.Subscriber, d.EventID, i))
	return "pm-" + hex.EncodeToString(h[:16])
}

type commanderKey struct{}

// WithCommander gives the Runner's process managers their Commander.
func WithCommander(c Commander) Option { return func(cfg *config) { cfg.commander = c } }
