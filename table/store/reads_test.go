package store

import "testing"

// An empty value (nil or zero-length) is a value: it reads back present
// before a flush, after it and after a reopen; only Delete removes a key.
func TestEmptyValuesArePresent(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, never)
	check := func(when string) {
		t.Helper()
		for _, k := range []string{"nil", "empty"} {
			v, err := s.Get(k)
			if err != nil || v == nil || len(v) != 0 {
				t.Errorf("%s: Get(%s) = %q, %v; want an empty, non-nil value", when, k, v, err)
			}
			if ok, err := s.Has(k); !ok || err != nil {
				t.Errorf("%s: Has(%s) = %v, %v", when, k, ok, err)
			}
		}
		if v, _ := s.Get("deleted"); v != nil {
			t.Errorf("%s: deleted key reads %q", when, v)
		}
	}
	if err := s.Set("nil", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Set("empty", []byte{}); err != nil {
		t.Fatal(err)
	}
	s.Set("deleted", nil)
	s.Delete("deleted")
	check("before a flush")
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	check("after a flush")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, never)
	defer s.Close()
	check("after a reopen")
}

// A read looks at the pending writes, then at the batch being flushed, then
// at LevelDB: a key whose newest write is in the batch LevelDB is writing
// reads that write (a put or a delete), not the older value on disk. The
// state in the middle of a Flush is set up directly, so the test does not
// depend on catching a flush at the right moment.
func TestReadsSeeTheBatchBeingFlushed(t *testing.T) {
	s := open(t, t.TempDir(), never)
	defer s.Close()
	for _, k := range []string{"put", "deleted", "both"} {
		s.Set(k, []byte("on disk"))
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.flushing = map[string]entry{
		"put":     {value: []byte("flushing")},
		"deleted": {del: true},
		"both":    {value: []byte("flushing")},
	}
	s.mu.Unlock()
	s.Set("both", []byte("pending"))
	for key, want := range map[string]string{"put": "flushing", "deleted": "<nil>", "both": "pending"} {
		if got := get(t, s, key); got != want {
			t.Errorf("Get(%s) mid-flush = %q, want %q", key, got, want)
		}
	}
	s.mu.Lock()
	s.flushing = nil
	s.mu.Unlock()
}
