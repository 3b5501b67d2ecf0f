// Package checker is the system tests' independent checker: it reads the
// events topics with its own Kafka client (franz-go's kgo, not sarama, goka
// or eventfold's kafka package), decodes the demo events with its own
// structs, folds them with its own copy of the orders and users rules and
// the command header rule of DESIGN.md ("Write path"), and compares three
// things:
//
//   - the writes the load generators were acknowledged (an ack log) against
//     the topic: an acknowledged write missing from the topic was lost by
//     the broker, and an acknowledged command the fold does not apply was
//     lost too;
//   - every entity the nodes serve against the fold: a different state, a
//     version higher than the fold's (an event applied twice) or lower (an
//     event lost or not yet applied);
//   - for a sample of entities, a node's history listing (offsets, applied
//     flags, versions) and its ?version=N answers against the fold.
//
// It imports nothing from github.com/eventfold/eventfold (independence_test.go
// enforces that): a checker sharing the fold's code would share its bugs.
package checker
