package store

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/syndtr/goleveldb/leveldb"
)

func open(t *testing.T, dir string, o Options) *Store {
	t.Helper()
	db, err := leveldb.OpenFile(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	return New(db, o)
}

// never flushes on its own: only Flush, MarkRecovered, iterators and Close.
var never = Options{FlushInterval: time.Hour, FlushRecords: 1 << 30, FlushBytes: 1 << 30}

func get(t *testing.T, s *Store, key string) string {
	t.Helper()
	v, err := s.Get(key)
	if err != nil {
		t.Fatal(err)
	}
	if v == nil {
		return "<nil>"
	}
	return string(v)
}

func TestReadsSeeWritesBeforeAndAfterFlush(t *testing.T) {
	s := open(t, t.TempDir(), never)
	defer s.Close()
	steps := []struct {
		op, key, value string
		flush          bool
	}{
		{op: "set", key: "a", value: "1"},
		{op: "set", key: "b", value: "2", flush: true},
		{op: "set", key: "a", value: "3"},
		{op: "del", key: "b"},
		{op: "set", key: "c", value: ""},
		{op: "set", key: "b", value: "4", flush: true},
		{op: "del", key: "a", flush: true},
	}
	want := map[string]string{}
	for i, st := range steps {
		switch st.op {
		case "set":
			if err := s.Set(st.key, []byte(st.value)); err != nil {
				t.Fatal(err)
			}
			want[st.key] = st.value
		case "del":
			if err := s.Delete(st.key); err != nil {
				t.Fatal(err)
			}
			delete(want, st.key)
		}
		if st.flush {
			if err := s.Flush(); err != nil {
				t.Fatal(err)
			}
		}
		for _, k := range []string{"a", "b", "c"} {
			w, ok := want[k]
			if !ok {
				w = "<nil>"
			}
			if got := get(t, s, k); got != w {
				t.Fatalf("step %d (%s %s): %s = %q, want %q", i, st.op, st.key, k, got, w)
			}
			if has, _ := s.Has(k); has != ok {
				t.Fatalf("step %d: Has(%s) = %v, want %v", i, k, has, ok)
			}
		}
	}
}

// Close flushes: everything written is there after a reopen.
func TestCloseKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, never)
	for i := range 100 {
		s.Set(fmt.Sprint("k", i), []byte(fmt.Sprint(i)))
	}
	s.SetOffset(99)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, never)
	defer s.Close()
	if off, _ := s.GetOffset(-1); off != 99 {
		t.Fatalf("offset %d after reopen, want 99", off)
	}
	for i := range 100 {
		if got := get(t, s, fmt.Sprint("k", i)); got != fmt.Sprint(i) {
			t.Fatalf("k%d = %q", i, got)
		}
	}
}

// A crash loses the writes since the last flush, the offset with them.
// What is on disk is the state after a prefix of the writes that contains
// the stored offset: values may be ahead of it (restoring from it rewrites
// them with the same records), never behind (that would skip records).
func TestCrashLeavesAPrefixOfTheWrites(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{FlushInterval: time.Hour, FlushRecords: 5, FlushBytes: 1 << 30})
	// Like goka's recovery: a value, then the offset of its changelog record.
	const n = 25
	for off := int64(0); off < n; off++ {
		s.Set(fmt.Sprint("k", off%7), []byte(fmt.Sprint(off)))
		s.SetOffset(off)
	}
	s.db.Close() // a crash: no Flush, no Close

	s = open(t, dir, never)
	defer s.Close()
	off, err := s.GetOffset(-1)
	if err != nil {
		t.Fatal(err)
	}
	if off < 0 || off >= n-1 {
		t.Fatalf("offset after the crash = %d: want an older flushed one", off)
	}
	// The state after the writes up to record r, for r = off (the batch
	// ended at the offset) or off+1 (it ended between a value and its
	// offset).
	stateAfter := func(r int64) map[int64]string {
		m := map[int64]string{}
		for o := int64(0); o <= r; o++ {
			m[o%7] = fmt.Sprint(o)
		}
		return m
	}
	matches := func(want map[int64]string) bool {
		for k := range int64(7) {
			w, ok := want[k]
			if !ok {
				w = "<nil>"
			}
			if get(t, s, fmt.Sprint("k", k)) != w {
				return false
			}
		}
		return true
	}
	if !matches(stateAfter(off)) && !matches(stateAfter(off+1)) {
		var got []string
		for k := range 7 {
			got = append(got, get(t, s, fmt.Sprint("k", k)))
		}
		t.Fatalf("after a crash at stored offset %d: values %v are no prefix of the writes", off, got)
	}
}

func TestFlushTriggers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		opts   Options
		writes int
		wait   time.Duration
	}{
		{"records", Options{FlushInterval: time.Hour, FlushRecords: 5, FlushBytes: 1 << 30}, 5, 0},
		{"bytes", Options{FlushInterval: time.Hour, FlushRecords: 1 << 30, FlushBytes: 100}, 4, 0}, // 4 × (2+30) bytes
		{"interval", Options{FlushInterval: 20 * time.Millisecond, FlushRecords: 1 << 30, FlushBytes: 1 << 30}, 2, 30 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t, t.TempDir(), tc.opts)
			defer s.Close()
			for i := range tc.writes {
				if i == tc.writes-1 {
					time.Sleep(tc.wait)
				}
				s.Set(fmt.Sprint("k", i), make([]byte, 30))
			}
			s.mu.RLock()
			left := len(s.pending)
			s.mu.RUnlock()
			if left != 0 {
				t.Fatalf("%d writes still pending", left)
			}
			if v, err := s.db.Get([]byte("k0"), nil); err != nil || len(v) != 30 {
				t.Fatalf("k0 not in LevelDB: %v", err)
			}
		})
	}
}

func TestIteratorSeesPendingWritesWithoutTheOffset(t *testing.T) {
	s := open(t, t.TempDir(), never)
	defer s.Close()
	s.Set("a", []byte("1"))
	s.Set("b", []byte("2"))
	s.Set("c", []byte("3"))
	s.Delete("b")
	s.SetOffset(7)
	it, err := s.Iterator()
	if err != nil {
		t.Fatal(err)
	}
	defer it.Release()
	var got []string
	for it.Next() {
		v, _ := it.Value()
		got = append(got, string(it.Key())+"="+string(v))
	}
	if fmt.Sprint(got) != "[a=1 c=3]" {
		t.Fatalf("iterated %v", got)
	}
}

// Readers run while one goroutine writes and another sets offsets, as
// goka's partition goroutine, its producer callbacks and HTTP handlers do:
// a key is never seen to go back to an older value or vanish.
func TestConcurrentReadersNeverSeeAKeyGoBack(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "db"), Options{FlushInterval: time.Millisecond, FlushRecords: 50, FlushBytes: 1 << 30})
	defer s.Close()
	const keys, rounds = 20, 300
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(2)
	go func() {
		defer wg.Done()
		for r := 1; r <= rounds; r++ {
			for k := range keys {
				s.Set(fmt.Sprint("k", k), []byte(fmt.Sprintf("%06d", r)))
			}
		}
		close(done)
	}()
	go func() {
		defer wg.Done()
		for o := int64(0); ; o++ {
			select {
			case <-done:
				return
			default:
				s.SetOffset(o)
			}
		}
	}()
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := make([]string, keys)
			for {
				select {
				case <-done:
					return
				default:
				}
				for k := range keys {
					v, err := s.Get(fmt.Sprint("k", k))
					if err != nil {
						errs <- err
						return
					}
					if v == nil && last[k] != "" || v != nil && string(v) < last[k] {
						errs <- fmt.Errorf("k%d went back from %q to %q", k, last[k], v)
						return
					}
					if v != nil {
						last[k] = string(v)
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
