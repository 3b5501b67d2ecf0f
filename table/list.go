package table

import (
	"errors"
	"fmt"
	"strings"

	"github.com/eventfold/eventfold"
)

// ListQuery selects the keys of one partition for a list page: those with
// Prefix, above After, in key (byte) order.
type ListQuery struct {
	Prefix string
	After  string // "" for the first page
	// Limit bounds the items; MaxBytes their keys and states (an estimate
	// of the encoded answer). A part always holds one item when one is left.
	Limit, MaxBytes int
	// NoState leaves the states out (ids and versions only).
	NoState bool
}

// offsetKey is where a storage keeps its changelog offset (goka's and
// table/store's): not an entity.
const offsetKey = "__offset"

// internalKeyPrefix starts keys a table keeps for itself (a projection's
// progress markers, package projection/progress): never listed, and no
// id the API accepts starts with it.
const internalKeyPrefix = "\x00"

// itemOverhead is what an item costs in an answer beside its key and state
// (field names, version, offset, time).
const itemOverhead = 96

// ListPart is one partition's share of a list page: its first items above
// the cursor, and whether it has more beyond the last.
type ListPart struct {
	Partition int32
	Items     []Entry
	More      bool
}

// List reads one partition's keys for a list page. Entities that have
// applied nothing (only an unfinished command) are skipped, as a read
// answers 404 for them. Errors as Raw: eventfold.ErrNotRecovered while the
// partition is not open and recovered here.
func (s *Set) List(entity string, partition int32, q ListQuery) (ListPart, error) {
	st := s.Get(partition)
	if st == nil || !st.Recovered() {
		return ListPart{}, fmt.Errorf("%w: %s partition %d", eventfold.ErrNotRecovered, entity, partition)
	}
	it, err := st.IteratorWithRange([]byte(q.Prefix), nil)
	if err != nil {
		return ListPart{}, fmt.Errorf("%w: %s partition %d: %v", eventfold.ErrNotRecovered, entity, partition, err)
	}
	defer it.Release()
	out := ListPart{Partition: partition}
	bytes := 0
	// Seek lands on the first key at or above its argument; the cursor's
	// own key is skipped below.
	ok := false
	if q.After != "" && q.After >= q.Prefix {
		ok = it.Seek([]byte(q.After))
		if ok && string(it.Key()) == q.After {
			ok = it.Next()
		}
	} else {
		ok = it.Next()
	}
	for ; ok; ok = it.Next() {
		key := string(it.Key())
		if !strings.HasPrefix(key, q.Prefix) || key == offsetKey || strings.HasPrefix(key, internalKeyPrefix) {
			continue
		}
		raw, err := it.Value()
		if err != nil {
			return ListPart{}, fmt.Errorf("%w: %s partition %d: %v", eventfold.ErrNotRecovered, entity, partition, err)
		}
		e, err := EntryFromStored(entity, key, partition, raw)
		if err != nil {
			if errors.Is(err, eventfold.ErrNotFound) {
				continue
			}
			return ListPart{}, err
		}
		if q.NoState {
			e.State = nil
		}
		size := len(key) + len(e.State) + itemOverhead
		if len(out.Items) == q.Limit || (len(out.Items) > 0 && bytes+size > q.MaxBytes) {
			out.More = true
			break
		}
		// The iterator's buffers are reused on Next: keep copies.
		e.State = append([]byte(nil), e.State...)
		out.Items = append(out.Items, e)
		bytes += size
	}
	if err := it.Err(); err != nil {
		return ListPart{}, fmt.Errorf("%w: %s partition %d: %v", eventfold.ErrNotRecovered, entity, partition, err)
	}
	return out, nil
}
