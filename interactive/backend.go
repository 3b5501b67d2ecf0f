package interactive

import (
	"context"
	"time"

	"github.com/eventfold/eventfold/entity"
	"github.com/eventfold/eventfold/kafka"
	"github.com/eventfold/eventfold/table"
)

// Backend is what a node holds, role by role. Catalog and Standby are
// required. A nil Owner, Commander or Historian says that this node owns no
// partition for that work: the request is routed to the owner, as for a
// partition another node owns. Package node composes it: a processor fills
// every role, a replica only Catalog and Standby.
type Backend struct {
	Catalog   Catalog
	Standby   StandbyReader
	Owner     OwnerReader // current state of owned partitions
	Commander Commander
	Historian Historian
	// Producer appends events; nil on read-only nodes (appends answer 503).
	Producer Producer
	// Subscribers are the node's side-effect handlers; nil: none.
	Subscribers Subscribers
	// Lag is the fold's lag on the owned partitions (GET /v1/cluster);
	// nil on a node that owns none.
	Lag LagReporter
	// Records reads topics by offset (GET /v1/deadletters/{entity});
	// nil: that route answers 503.
	Records RecordReader
}

// Catalog is what every node knows of its entity types, owner or not.
type Catalog interface {
	Types() []*entity.Type
	Type(name string) (*entity.Type, bool)
	// Partitions is 0 while the partition count is not known yet (a
	// replica before it found the tables).
	Partitions(entityName string) int32
	RecoveredPartitions(entityName string) []int32
	Recovered() bool
}

// OwnerReader reads the partitions this node owns.
type OwnerReader interface {
	Get(ctx context.Context, entityName, key string) (table.Entry, error)
	Assigned(entityName string) []int32
	// List reads one owned partition's share of a list page.
	List(ctx context.Context, entityName string, partition int32, q table.ListQuery) (table.ListPart, error)
}

// StandbyReader reads this node's copy of a partition it need not own: the
// answer may lag the owner's (Entry.Stale, Entry.Lag).
type StandbyReader interface {
	GetStandby(ctx context.Context, entityName, key string) (table.Entry, error)
	// ListStandby reads one partition's share of a list page from this
	// node's copy.
	ListStandby(ctx context.Context, entityName string, partition int32, q table.ListQuery) (table.ListPart, error)
}

// Commander carries out commands and waits for offsets on the owner.
type Commander interface {
	Execute(ctx context.Context, entityName, key string, cmd []byte, opts entity.CommandOptions) (entity.CommandResult, error)
	WaitApplied(ctx context.Context, entityName, key string, offset int64) error
}

// Historian answers history and point-in-time queries on the owner.
type Historian interface {
	History(ctx context.Context, entityName, key string, after int64, limit int) (table.HistoryPage, error)
	StateAt(ctx context.Context, entityName, key string, version uint64, asOf time.Time) (table.Entry, error)
}

// Producer appends records; kafka.Producer implements it.
type Producer interface {
	Send(ctx context.Context, r kafka.Record) (kafka.Position, error)
}

// LagReporter tells how far the fold is behind on the partitions this
// node owns.
type LagReporter interface {
	// Lags returns, for each partition of entityName this node owns, how
	// many records of its events topic lie past the last one delivered to
	// the fold (0: caught up). A partition is missing until a record of it
	// has been delivered since it was assigned.
	Lags(entityName string) map[int32]int64
}

// RecordReader reads records of a topic by offset; *kafka.Fetcher
// implements it.
type RecordReader interface {
	// Partitions lists the topic's partitions, in order; a topic that does
	// not exist is an error wrapping sarama.ErrUnknownTopicOrPartition.
	Partitions(topic string) ([]int32, error)
	HighWaterMark(topic string, partition int32) (int64, error)
	// ReadFrom is kafka.Fetcher.ReadFrom: the records of one partition
	// from offset up to the high-water mark, until fn returns false; fn
	// copies what it keeps.
	ReadFrom(ctx context.Context, topic string, partition int32, offset int64, maxBytes int32, fn func(kafka.Fetched) bool) (next, hwm int64, err error)
}
