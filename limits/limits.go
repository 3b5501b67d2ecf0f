// Package limits is the one definition of every size and count eventfold
// enforces. Each limit is checked where data enters (the HTTP API, the fold,
// the dead-letter writer) and listed in docs/limits.md with its default,
// its flag, and what a client or the fold sees past it.
//
// The record limits derive from one number, RecordBytes: whatever eventfold
// produces (an appended event, a table envelope, a dead letter, a history
// node) must fit in one Kafka record, and a record that cannot fit must be
// refused where it enters, never attempted: a write that can never succeed
// would stop the fold.
package limits

const (
	// RecordBytes is the largest record eventfold produces, key, value and
	// headers together: sarama's Producer.MaxMessageBytes, kept below
	// Kafka's default message.max.bytes (1,048,588).
	RecordBytes = 1_000_000

	// RecordOverhead is what the record format adds around key, value and
	// headers (sarama counts at most 36 bytes; the rest is margin).
	RecordOverhead = 128

	// IDBytes bounds an entity id, which is the record key.
	IDBytes = 1024

	// HeaderBytes is the room kept for eventfold's own record headers: the
	// command headers of an appended event, or the reason and source of a
	// dead letter.
	HeaderBytes = 8 << 10

	// EventBytes bounds one event: an HTTP request body (events and
	// commands) and each event a command's Decide returns. It leaves room
	// for the key and the headers below RecordBytes.
	EventBytes = RecordBytes - RecordOverhead - IDBytes - HeaderBytes

	// EnvelopeBytes bounds a stored table value (state, version, command
	// records, history index): table records carry the key and no headers.
	// An event whose envelope would be larger is dead-lettered with reason
	// state_too_large (a command gets 422 state_too_large).
	EnvelopeBytes = RecordBytes - RecordOverhead - IDBytes

	// ErrorTextBytes caps the error text in a dead letter's eventfold-error
	// header (errors may quote their input).
	ErrorTextBytes = 2 << 10

	// EventsPerCommand is the default bound on the events one command may
	// append (settable per entity type); past it the command gets 422.
	EventsPerCommand = 100
	// MaxEventsPerCommand is the most an entity type may allow: the bound
	// on a pending command's offsets in the stored envelope.
	MaxEventsPerCommand = 1 << 16

	// IdempotencyKeyBytes bounds the Idempotency-Key header.
	IdempotencyKeyBytes = 256

	// HistoryPageEvents bounds ?limit= of GET /v1/{entity}/{id}/events.
	HistoryPageEvents = 1000

	// HistoryPageBytes is the default bound on the event payload bytes in
	// one history page; the page ends early and "next" continues.
	HistoryPageBytes = 4 << 20

	// HTTPHeaderBytes bounds a request's headers (431 past it).
	HTTPHeaderBytes = 64 << 10

	// SubscriberOpenEvents bounds the events of one partition a subscriber
	// has read and not yet done (handled or dead-lettered): past it the
	// partition waits for its handlers.
	SubscriberOpenEvents = 4096

	// ListPageItems bounds ?limit= of GET /v1/{entity}.
	ListPageItems = 1000

	// ListPageBytes bounds the ids and states of one list page: the page
	// ends early (always at least one item) and "next" continues. Each
	// partition's share of a page is bounded by it split evenly (at least
	// 64 KiB), so it also bounds what a page gathers from the owners.
	ListPageBytes = 1 << 20

	// DeadLetterPageItems bounds ?limit= of GET /v1/deadletters/{entity}.
	DeadLetterPageItems = 500

	// DeadLetterPageBytes bounds the dead letters' keys, values and
	// headers (as stored, before DeadLetterValueBytes cuts the values) of
	// one page of GET /v1/deadletters/{entity}: the page ends early
	// (always at least one) and "next" continues. It bounds both the
	// answer and what the node reads from Kafka for it.
	DeadLetterPageBytes = 1 << 20

	// DeadLetterValueBytes is the most of one dead letter's value that
	// GET /v1/deadletters/{entity} shows; a longer one is cut and marked
	// value_truncated.
	DeadLetterValueBytes = 4 << 10
)
