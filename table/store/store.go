package store

import (
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/lovoo/goka/storage"
	"github.com/syndtr/goleveldb/leveldb"
	ldbiter "github.com/syndtr/goleveldb/leveldb/iterator"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/util"
)

// offsetKey is where goka's storage keeps the changelog offset; the same
// key keeps existing data directories readable by either.
const offsetKey = "__offset"

// Defaults of Options.
const (
	DefaultFlushInterval = 50 * time.Millisecond
	DefaultFlushRecords  = 4096
	DefaultFlushBytes    = 1 << 20
)

// Options bound how much a partition keeps in memory before it writes.
type Options struct {
	// FlushInterval: a write after this long since the last flush flushes.
	FlushInterval time.Duration
	// FlushRecords and FlushBytes: pending writes that trigger a flush.
	FlushRecords, FlushBytes int
}

func (o Options) withDefaults() Options {
	if o.FlushInterval <= 0 {
		o.FlushInterval = DefaultFlushInterval
	}
	if o.FlushRecords <= 0 {
		o.FlushRecords = DefaultFlushRecords
	}
	if o.FlushBytes <= 0 {
		o.FlushBytes = DefaultFlushBytes
	}
	return o
}

// Builder opens a Store per topic partition under dir, as
// <dir>/<topic>.<partition> (goka's layout).
func Builder(dir string, o Options) storage.Builder {
	return func(topic string, partition int32) (storage.Storage, error) {
		db, err := leveldb.OpenFile(filepath.Join(dir, fmt.Sprintf("%s.%d", topic, partition)), nil)
		if err != nil {
			return nil, fmt.Errorf("store: open leveldb: %w", err)
		}
		return New(db, o), nil
	}
}

// entry is a pending write; del marks a delete.
type entry struct {
	value []byte
	del   bool
}

// Store implements goka's storage.Storage. Set, Delete and SetOffset may
// be called concurrently with reads (goka's partition goroutine writes,
// its producer callbacks set offsets, HTTP handlers read).
type Store struct {
	db   *leveldb.DB
	opts Options

	flushMu sync.Mutex // one flush at a time, in order

	mu       sync.RWMutex
	pending  map[string]entry // written since the last flush
	batch    *leveldb.Batch   // the same writes, in order
	bytes    int
	flushing map[string]entry // the batch being written, readable until it is in LevelDB
	last     time.Time        // last flush
	offset   int64            // last SetOffset
	hasOff   bool
	closed   bool
}

// New wraps an open LevelDB database; Close closes it.
func New(db *leveldb.DB, o Options) *Store {
	return &Store{db: db, opts: o.withDefaults(), pending: map[string]entry{}, batch: new(leveldb.Batch), last: time.Now()}
}

// Open is part of goka's interface; the database is already open.
func (s *Store) Open() error { return nil }

// Get returns the value of key, nil if there is none.
func (s *Store) Get(key string) ([]byte, error) {
	s.mu.RLock()
	e, ok := s.pending[key]
	if !ok {
		e, ok = s.flushing[key]
	}
	s.mu.RUnlock()
	if ok {
		if e.del {
			return nil, nil
		}
		return e.value, nil
	}
	v, err := s.db.Get([]byte(key), nil)
	if err == leveldb.ErrNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: get %q: %w", key, err)
	}
	return v, nil
}

// Has reports whether key has a value.
func (s *Store) Has(key string) (bool, error) {
	v, err := s.Get(key)
	return v != nil, err
}

// Set stores value under key; value must not be modified afterwards.
func (s *Store) Set(key string, value []byte) error {
	if value == nil {
		value = []byte{} // a nil value would read back as absent
	}
	return s.write(key, entry{value: value})
}

// Delete removes key.
func (s *Store) Delete(key string) error { return s.write(key, entry{del: true}) }

// SetOffset records the changelog offset the values written so far
// correspond to. It is batched with them: whatever LevelDB holds after a
// crash, its offset matches its values.
func (s *Store) SetOffset(offset int64) error {
	s.mu.Lock()
	s.offset, s.hasOff = offset, true
	s.mu.Unlock()
	return s.write(offsetKey, entry{value: []byte(strconv.FormatInt(offset, 10))})
}

// GetOffset returns the last offset set, or stored, or def.
func (s *Store) GetOffset(def int64) (int64, error) {
	s.mu.RLock()
	off, ok := s.offset, s.hasOff
	s.mu.RUnlock()
	if ok {
		return off, nil
	}
	v, err := s.Get(offsetKey)
	if err != nil || v == nil {
		return def, err
	}
	off, err = strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("store: stored offset %q: %w", v, err)
	}
	return off, nil
}

// MarkRecovered flushes: a recovered partition's state is on disk.
func (s *Store) MarkRecovered() error { return s.Flush() }

func (s *Store) write(key string, e entry) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return fmt.Errorf("store: write %q: closed", key)
	}
	if old, ok := s.pending[key]; ok {
		s.bytes -= len(key) + len(old.value)
	}
	s.pending[key] = e
	s.bytes += len(key) + len(e.value)
	if e.del {
		s.batch.Delete([]byte(key))
	} else {
		s.batch.Put([]byte(key), e.value)
	}
	due := len(s.pending) >= s.opts.FlushRecords || s.bytes >= s.opts.FlushBytes || time.Since(s.last) >= s.opts.FlushInterval
	s.mu.Unlock()
	if due {
		return s.Flush()
	}
	return nil
}

// Flush writes the pending writes to LevelDB as one batch.
func (s *Store) Flush() error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	s.mu.Lock()
	s.last = time.Now()
	if len(s.pending) == 0 {
		s.mu.Unlock()
		return nil
	}
	b := s.batch
	s.flushing, s.pending, s.batch, s.bytes = s.pending, map[string]entry{}, new(leveldb.Batch), 0
	s.mu.Unlock()

	err := s.db.Write(b, nil)

	s.mu.Lock()
	if err != nil {
		// Keep the writes readable and retry them with the next flush;
		// later writes of a key win, and a batch has no order across keys.
		merged := s.flushing
		for k, e := range s.pending {
			merged[k] = e
		}
		s.pending, s.batch, s.bytes = merged, new(leveldb.Batch), 0
		for k, e := range merged {
			if e.del {
				s.batch.Delete([]byte(k))
			} else {
				s.batch.Put([]byte(k), e.value)
			}
			s.bytes += len(k) + len(e.value)
		}
	}
	s.flushing = nil
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("store: write batch: %w", err)
	}
	return nil
}

// Iterator iterates over all values (after a flush), without the offset.
func (s *Store) Iterator() (storage.Iterator, error) {
	if err := s.Flush(); err != nil {
		return nil, err
	}
	return &iterator{it: s.db.NewIterator(nil, &opt.ReadOptions{DontFillCache: true})}, nil
}

// IteratorWithRange iterates over [start, limit), or over the keys with
// prefix start when limit is empty (goka's semantics).
func (s *Store) IteratorWithRange(start, limit []byte) (storage.Iterator, error) {
	if err := s.Flush(); err != nil {
		return nil, err
	}
	r := util.BytesPrefix(start)
	if len(limit) > 0 {
		r = &util.Range{Start: start, Limit: limit}
	}
	return &iterator{it: s.db.NewIterator(r, nil)}, nil
}

// Close flushes and closes the database.
func (s *Store) Close() error {
	ferr := s.Flush()
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	if err := s.db.Close(); err != nil {
		return err
	}
	return ferr
}

type iterator struct{ it ldbiter.Iterator }

func (i *iterator) Next() bool {
	for i.it.Next() {
		if string(i.it.Key()) != offsetKey {
			return true
		}
	}
	return false
}
func (i *iterator) Err() error             { return i.it.Error() }
func (i *iterator) Key() []byte            { return i.it.Key() }
func (i *iterator) Value() ([]byte, error) { return i.it.Value(), nil }
func (i *iterator) Release()               { i.it.Release() }
func (i *iterator) Seek(key []byte) bool   { return i.it.Seek(key) }
