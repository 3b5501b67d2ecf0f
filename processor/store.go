package processor

import (
	"sync"
	"sync/atomic"

	"github.com/lovoo/goka/storage"
)

// partitionStore is goka's storage for one partition of a table, watched so
// that reads know whether the partition is open and recovered. goka creates
// a new one for every partition of every generation and closes it when the
// generation ends.
type partitionStore struct {
	storage.Storage
	partition int32
	recovered atomic.Bool
	onClose   func(*partitionStore)
}

func (s *partitionStore) MarkRecovered() error {
	err := s.Storage.MarkRecovered()
	if err == nil {
		s.recovered.Store(true)
	}
	return err
}

func (s *partitionStore) Close() error {
	s.recovered.Store(false)
	s.onClose(s)
	return s.Storage.Close()
}

// stores indexes the open partition stores of one table.
type stores struct {
	mu    sync.RWMutex
	parts map[int32]*partitionStore
}

func newStores() *stores { return &stores{parts: map[int32]*partitionStore{}} }

// builder wraps a goka storage builder so every store it opens is indexed.
func (ss *stores) builder(inner storage.Builder) storage.Builder {
	return func(topic string, partition int32) (storage.Storage, error) {
		st, err := inner(topic, partition)
		if err != nil {
			return nil, err
		}
		ps := &partitionStore{Storage: st, partition: partition, onClose: ss.remove}
		ss.mu.Lock()
		ss.parts[partition] = ps
		ss.mu.Unlock()
		return ps, nil
	}
}

func (ss *stores) remove(ps *partitionStore) {
	ss.mu.Lock()
	if ss.parts[ps.partition] == ps {
		delete(ss.parts, ps.partition)
	}
	ss.mu.Unlock()
}

func (ss *stores) get(partition int32) *partitionStore {
	ss.mu.RLock()
	defer ss.mu.RUnlock()
	return ss.parts[partition]
}

// recovered lists the open, recovered partitions.
func (ss *stores) recovered() []int32 {
	ss.mu.RLock()
	defer ss.mu.RUnlock()
	var out []int32
	for p, s := range ss.parts {
		if s.recovered.Load() {
			out = append(out, p)
		}
	}
	return out
}
