package table

// A Set watches goka's per-partition storages of one table: which
// partitions are open and recovered on this node, which changelog offset
// each has applied, and how far that is behind the changelog's end. The
// processor (owned and hot-standby partitions) and the view (replicas) both
// read through it, with Raw, Read and Envelope: the one read path.

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka/storage"

	"github.com/eventfold/eventfold"
)

// Partition is goka's storage of one partition, watched. goka creates one
// per partition per generation (or view run) and closes it when done.
type Partition struct {
	storage.Storage
	ID        int32
	recovered atomic.Bool
	applied   atomic.Int64 // last changelog offset in the storage, -1 if none
	set       *Set
}

// Recovered reports whether goka finished restoring the partition.
func (p *Partition) Recovered() bool { return p.recovered.Load() }

// Applied is the last changelog offset written to the storage (-1: none).
func (p *Partition) Applied() int64 { return p.applied.Load() }

// Open opens the storage and starts Applied at the offset it already holds:
// goka reopens a caught-up storage (a restart, every rebalance) without
// loading a record, so SetOffset alone would leave Applied at -1 and the
// partition's lag at the whole changelog.
func (p *Partition) Open() error {
	if err := p.Storage.Open(); err != nil {
		return err
	}
	p.loadOffset()
	return nil
}

// loadOffset sets Applied from the storage's stored offset. A storage whose
// offset cannot be read keeps -1 (lag unknown-large); goka reads it too and
// reports the error.
func (p *Partition) loadOffset() {
	off, err := p.Storage.GetOffset(-1)
	if err != nil {
		return
	}
	// Never back: a SetOffset may land between GetOffset and here.
	for cur := p.applied.Load(); off > cur && !p.applied.CompareAndSwap(cur, off); cur = p.applied.Load() {
	}
}

func (p *Partition) MarkRecovered() error {
	err := p.Storage.MarkRecovered()
	if err == nil {
		p.loadOffset()
		p.recovered.Store(true)
	}
	return err
}

func (p *Partition) SetOffset(offset int64) error {
	err := p.Storage.SetOffset(offset)
	if err == nil {
		p.applied.Store(offset)
	}
	return err
}

func (p *Partition) Close() error {
	p.recovered.Store(false)
	p.set.remove(p)
	return p.Storage.Close()
}

// Set is the open partitions of one table on this node.
type Set struct {
	mu    sync.RWMutex
	parts map[int32]*Partition
	hwm   sync.Map // int32 -> int64: changelog high-water marks, from Poll
}

// NewSet returns an empty set.
func NewSet() *Set { return &Set{parts: map[int32]*Partition{}} }

// Builder wraps a goka storage builder so every storage it opens joins the set.
func (s *Set) Builder(inner storage.Builder) storage.Builder {
	return func(topic string, partition int32) (storage.Storage, error) {
		st, err := inner(topic, partition)
		if err != nil {
			return nil, err
		}
		p := &Partition{Storage: st, ID: partition, set: s}
		p.applied.Store(-1)
		s.mu.Lock()
		s.parts[partition] = p
		s.mu.Unlock()
		return p, nil
	}
}

func (s *Set) remove(p *Partition) {
	s.mu.Lock()
	if s.parts[p.ID] == p {
		delete(s.parts, p.ID)
	}
	s.mu.Unlock()
}

// Get returns the open storage of partition, or nil.
func (s *Set) Get(partition int32) *Partition {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.parts[partition]
}

// Recovered lists the open, recovered partitions.
func (s *Set) Recovered() []int32 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []int32
	for id, p := range s.parts {
		if p.recovered.Load() {
			out = append(out, id)
		}
	}
	return out
}

// Lag is how many changelog records partition's storage is behind the
// changelog's end, as of the last Poll; -1 when unknown.
func (s *Set) Lag(partition int32) int64 {
	p := s.Get(partition)
	v, ok := s.hwm.Load(partition)
	if p == nil || !ok {
		return -1
	}
	// The high-water mark is the next offset; offsets can have gaps
	// (compaction), so this is an upper bound in records.
	return max(v.(int64)-p.applied.Load()-1, 0)
}

// Poll refreshes the changelog high-water marks of the open partitions
// every interval until ctx ends.
func (s *Set) Poll(ctx context.Context, client sarama.Client, topic string, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		s.mu.RLock()
		ids := make([]int32, 0, len(s.parts))
		for id := range s.parts {
			ids = append(ids, id)
		}
		s.mu.RUnlock()
		for _, id := range ids {
			if hwm, err := client.GetOffset(topic, id, sarama.OffsetNewest); err == nil {
				s.hwm.Store(id, hwm)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Raw returns key's stored value in partition (nil: none). Errors:
// eventfold.ErrNotRecovered while the partition is not open here or still
// restoring, or when its storage closed under the read (a reassignment).
// entity names the table in errors.
func (s *Set) Raw(entity string, partition int32, key string) ([]byte, error) {
	st := s.Get(partition)
	if st == nil || !st.Recovered() {
		return nil, fmt.Errorf("%w: %s partition %d", eventfold.ErrNotRecovered, entity, partition)
	}
	raw, err := st.Get(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %s partition %d: %v", eventfold.ErrNotRecovered, entity, partition, err)
	}
	return raw, nil
}

// Read returns key's Entry from partition: Raw, decoded; ErrNotFound when
// the key has applied nothing.
func (s *Set) Read(entity string, partition int32, key string) (Entry, error) {
	raw, err := s.Raw(entity, partition, key)
	if err != nil {
		return Entry{}, err
	}
	if raw == nil {
		return Entry{}, fmt.Errorf("%w: %s %q", eventfold.ErrNotFound, entity, key)
	}
	return EntryFromStored(entity, key, partition, raw)
}

// Envelope returns key's decoded envelope from partition and its stored
// size; an absent key is an empty envelope (Seen -1) of size 0.
func (s *Set) Envelope(entity string, partition int32, key string) (Envelope, int, error) {
	raw, err := s.Raw(entity, partition, key)
	if err != nil || raw == nil {
		return Envelope{Seen: -1}, 0, err
	}
	var env Envelope
	if err := env.UnmarshalBinary(raw); err != nil {
		return env, 0, err
	}
	return env, len(raw), nil
}
