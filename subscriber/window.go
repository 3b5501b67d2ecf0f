package subscriber

import "sync"

// window tracks the offsets of one claimed partition that are read but not
// done, so that the committed offset never passes a delivery in flight:
// every offset below the commit point is done.
type window struct {
	mu   sync.Mutex
	ents []int64 // read and not yet committed, ascending
	done map[int64]bool
	next int64 // the commit point
}

// newWindow starts at the claim's initial offset (negative: not known
// until the first event).
func newWindow(start int64) *window { return &window{done: map[int64]bool{}, next: start} }

// add records a read offset (offsets arrive in ascending order).
func (w *window) add(offset int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.next < 0 {
		w.next = offset // no committed offset: the claim starts here
	}
	w.ents = append(w.ents, offset)
}

// finish marks offsets done.
func (w *window) finish(offsets ...int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, o := range offsets {
		w.done[o] = true
	}
}

// commitPoint returns the offset below which everything is done, dropping
// what it passes.
func (w *window) commitPoint() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	i := 0
	for ; i < len(w.ents) && w.done[w.ents[i]]; i++ {
		delete(w.done, w.ents[i])
		w.next = w.ents[i] + 1
	}
	w.ents = w.ents[i:]
	return w.next
}

// open is how many read offsets are not committed yet.
func (w *window) open() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.ents)
}
