package checker

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Record is one record of an events topic, as read by ReadTopic.
type Record struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       string
	Value     []byte
	Headers   map[string]string
}

// Command headers (DESIGN.md, "Write path"); spelled here again on purpose.
const (
	hdrCommandID = "eventfold-command-id"
	hdrExpected  = "eventfold-expected-version"
	hdrBatch     = "eventfold-batch"
)

// Event is what the fold did with one event of an entity.
type Event struct {
	Partition int32
	Offset    int64
	Applied   bool   // applied (for a command's events: the command applied)
	Version   uint64 // the entity's version after this event
	CommandID string
}

// Entity is the fold of one entity.
type Entity struct {
	Type, ID string
	Version  uint64          // events applied
	Offset   int64           // offset of the last applied event (-1: none)
	State    json.RawMessage // the state JSON (null before the first applied event)
	Events   []Event         // every event of the entity, in order
	records  []*Record
}

// Fold is the independent fold of the events topics.
type Fold struct {
	// Entities[type][id].
	Entities map[string]map[string]*Entity
	records  map[pos]*Record   // every record read, by position
	topics   map[string]string // topic -> entity type
	// byPos finds an event of the fold by its record position.
	byPos map[pos]*Event
}

type pos struct {
	topic     string
	partition int32
	offset    int64
}

// FoldTopics folds the records of each entity type's events topic
// (topics[type] = the records of that type's topic, in any order).
func FoldTopics(topics map[string][]Record) (*Fold, error) {
	f := &Fold{Entities: map[string]map[string]*Entity{}, byPos: map[pos]*Event{}, records: map[pos]*Record{}, topics: map[string]string{}}
	for typ, recs := range topics {
		d, ok := domains[typ]
		if !ok {
			return nil, fmt.Errorf("checker: unknown entity type %q", typ)
		}
		sorted := make([]*Record, len(recs))
		for i := range recs {
			r := &recs[i]
			sorted[i] = r
			f.records[pos{r.Topic, r.Partition, r.Offset}] = r
			f.topics[r.Topic] = typ
		}
		sort.Slice(sorted, func(i, j int) bool {
			if sorted[i].Partition != sorted[j].Partition {
				return sorted[i].Partition < sorted[j].Partition
			}
			return sorted[i].Offset < sorted[j].Offset
		})
		ents := map[string]*Entity{}
		for _, r := range sorted {
			if r.Key == "" {
				continue // no entity: the node dead-letters it
			}
			e := ents[r.Key]
			if e == nil {
				e = &Entity{Type: typ, ID: r.Key}
				ents[r.Key] = e
			}
			e.records = append(e.records, r)
		}
		for _, e := range ents {
			e.fold(d, 0, nil)
			for i := range e.Events {
				ev := &e.Events[i]
				f.byPos[pos{e.records[i].Topic, ev.Partition, ev.Offset}] = ev
			}
		}
		f.Entities[typ] = ents
	}
	return f, nil
}

// Event returns the fold's outcome of the record at a position.
func (f *Fold) Event(topic string, partition int32, offset int64) (*Event, bool) {
	ev, ok := f.byPos[pos{topic, partition, offset}]
	return ev, ok
}

// command is an unfinished command: its events applied so far, aside.
type command struct {
	id       string
	expected uint64
	next, n  int
	state    any
	events   []int // indexes into Events
	states   []any // the state after each of them
}

// fold runs the entity's records through the domain and the command rule.
// With upTo > 0 it stops at the upTo-th applied event and snap receives the
// state then (for ?version=N).
func (e *Entity) fold(d domain, upTo uint64, snap func(state any, offset int64)) {
	state := d.zero()
	var version uint64
	offset := int64(-1)
	var pend *command
	var snapshots []any // per applied version (only when upTo > 0)
	var snapOffsets []int64
	e.Events = e.Events[:0]
	applyPlain := func(s any, off int64) {
		state, version, offset = s, version+1, off
		if upTo > 0 {
			snapshots, snapOffsets = append(snapshots, s), append(snapOffsets, off)
		}
	}
	for _, r := range e.records {
		ev := Event{Partition: r.Partition, Offset: r.Offset}
		idx := len(e.Events)
		id, isCmd := r.Headers[hdrCommandID]
		switch {
		case !isCmd:
			// A plain event: applies if Evolve accepts it, and aborts an
			// unfinished command (decided on a state that no longer is).
			pend = nil
			if s, err := d.evolve(state, r.Value); err == nil {
				applyPlain(s, r.Offset)
				ev.Applied = true
			}
		default:
			ev.CommandID = id
			expected, i, n, ok := parseCommand(id, r.Headers)
			if !ok {
				break // malformed headers: not applied
			}
			if i == 0 {
				if version != expected {
					break
				}
				pend = nil // a new command on this version replaces an unfinished one
				s, err := d.evolve(state, r.Value)
				if err != nil {
					break
				}
				pend = &command{id: id, expected: expected, next: 1, n: n, state: s}
			} else {
				if pend == nil || pend.id != id || pend.next != i || pend.n != n {
					break
				}
				s, err := d.evolve(pend.state, r.Value)
				if err != nil {
					pend = nil
					break
				}
				pend.state, pend.next = s, i+1
			}
			pend.events = append(pend.events, idx)
			pend.states = append(pend.states, pend.state)
			if pend.next == pend.n {
				// The last event: the command applies, all of it.
				for k, j := range pend.events[:len(pend.events)-1] {
					e.Events[j].Applied = true
					applyPlain(pend.states[k], e.Events[j].Offset)
				}
				ev.Applied = true
				applyPlain(pend.state, r.Offset)
				pend = nil
			}
		}
		e.Events = append(e.Events, ev)
	}
	// Versions from the final applied flags.
	var v uint64
	for i := range e.Events {
		if e.Events[i].Applied {
			v++
		}
		e.Events[i].Version = v
	}
	e.Version, e.Offset = version, offset
	e.State = mustJSON(state)
	if version == 0 {
		e.State = json.RawMessage("null")
	}
	if upTo > 0 && snap != nil && upTo <= uint64(len(snapshots)) {
		snap(snapshots[upTo-1], snapOffsets[upTo-1])
	}
}

// parseCommand reads the command headers: expected version and "i/n".
func parseCommand(id string, h map[string]string) (expected uint64, i, n int, ok bool) {
	expected, err := strconv.ParseUint(h[hdrExpected], 10, 64)
	if err != nil || id == "" {
		return 0, 0, 0, false
	}
	a, b, found := strings.Cut(h[hdrBatch], "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !found || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return 0, 0, 0, false
	}
	return expected, i, n, true
}

// StateAt is the entity's state after its first n applied events and the
// offset of the n-th, or false if it has fewer.
func (f *Fold) StateAt(typ, id string, n uint64) (json.RawMessage, int64, bool) {
	e := f.Entities[typ][id]
	if e == nil || n == 0 {
		return nil, 0, false
	}
	var state json.RawMessage
	var off int64
	c := &Entity{Type: e.Type, ID: e.ID, records: e.records}
	c.fold(domains[typ], n, func(s any, o int64) { state, off = mustJSON(s), o })
	return state, off, state != nil
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // plain structs of strings and numbers
	}
	return b
}

// Counts are what the fold did, over all entities.
type Counts struct {
	Events, Applied                        int
	CommandEvents, CommandEventsNotApplied int // events with command headers; of them, not applied
}

// Counts counts the fold's events and outcomes.
func (f *Fold) Counts() Counts {
	var c Counts
	for _, ents := range f.Entities {
		for _, e := range ents {
			for _, ev := range e.Events {
				c.Events++
				if ev.Applied {
					c.Applied++
				}
				if ev.CommandID != "" {
					c.CommandEvents++
					if !ev.Applied {
						c.CommandEventsNotApplied++
					}
				}
			}
		}
	}
	return c
}
