package table

import (
	"testing"

	"github.com/eventfold/eventfold/table/store"
)

// goka reopens a caught-up storage (node restart, every rebalance) without
// loading a record, so no SetOffset follows. Applied must start at the
// offset the storage holds; it started at -1, and the partition's lag was
// the whole changelog.
func TestReopenedStorageStartsAtItsStoredOffset(t *testing.T) {
	dir := t.TempDir()
	s := NewSet()
	build := s.Builder(store.Builder(dir, store.Options{}))
	open := func() *Partition {
		t.Helper()
		st, err := build("t-table", 3)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Open(); err != nil {
			t.Fatal(err)
		}
		return st.(*Partition)
	}

	p := open()
	if got := p.Applied(); got != -1 {
		t.Fatalf("fresh storage: applied %d, want -1", got)
	}
	for off := int64(0); off <= 41; off++ {
		if err := p.Set("k", []byte{byte(off)}); err != nil {
			t.Fatal(err)
		}
		if err := p.SetOffset(off); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.MarkRecovered(); err != nil {
		t.Fatal(err)
	}
	s.hwm.Store(int32(3), int64(42)) // as Poll would: the next offset
	if lag := s.Lag(3); p.Applied() != 41 || lag != 0 {
		t.Fatalf("after loading: applied %d, lag %d", p.Applied(), lag)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}

	p = open() // nothing loaded: caught up already
	if got := p.Applied(); got != 41 {
		t.Errorf("reopened: applied %d, want 41", got)
	}
	if lag := s.Lag(3); lag != 0 {
		t.Errorf("reopened, caught up: lag %d, want 0", lag)
	}
	if err := p.MarkRecovered(); err != nil || p.Applied() != 41 || !p.Recovered() {
		t.Errorf("after MarkRecovered: applied %d, recovered %v, %v", p.Applied(), p.Recovered(), err)
	}
	s.hwm.Store(int32(3), int64(50))
	if lag := s.Lag(3); lag != 8 {
		t.Errorf("8 records behind: lag %d", lag)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
}
