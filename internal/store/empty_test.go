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
