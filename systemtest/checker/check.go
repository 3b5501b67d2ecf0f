package checker

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"reflect"
	"sort"
	"strings"
	"sync"
)

// Load reads each entity type's events topic (topics[type] = topic name) and
// folds it.
func Load(ctx context.Context, brokers []string, topics map[string]string) (*Fold, error) {
	recs := map[string][]Record{}
	for typ, topic := range topics {
		rs, err := ReadTopic(ctx, brokers, topic)
		if err != nil {
			return nil, err
		}
		recs[typ] = rs
	}
	f, err := FoldTopics(recs)
	if err != nil {
		return nil, err
	}
	for typ, topic := range topics {
		f.topics[topic] = typ
	}
	return f, nil
}

// Finding is one thing the checker found wrong.
type Finding struct {
	Entity, ID string
	Detail     string
}

func (f Finding) String() string { return f.Entity + "/" + f.ID + ": " + f.Detail }

// AckReport compares the acknowledged writes with the topic.
type AckReport struct {
	Checked int
	// Missing: acknowledged writes not in the topic (nothing at their
	// position, or another record there): lost by the broker.
	Missing []Finding
	// NotApplied: acknowledged commands whose events are in the topic but
	// which the fold does not apply at the acknowledged version.
	NotApplied []Finding
}

// CheckAcks compares acks with the records the fold read.
func (f *Fold) CheckAcks(acks []Ack) AckReport {
	var r AckReport
	for _, a := range acks {
		r.Checked++
		typ := f.typeOfTopic(a.Topic)
		rec, ok := f.records[pos{a.Topic, a.Partition, a.Offset}]
		switch {
		case !ok:
			r.Missing = append(r.Missing, Finding{typ, a.Key, fmt.Sprintf("acknowledged at %s %d/%d, not in the topic", a.Topic, a.Partition, a.Offset)})
			continue
		case rec.Key != a.Key:
			r.Missing = append(r.Missing, Finding{typ, a.Key, fmt.Sprintf("acknowledged at %s %d/%d, which holds key %q", a.Topic, a.Partition, a.Offset, rec.Key)})
			continue
		case a.SHA256 != "" && Hash(rec.Value) != a.SHA256:
			r.Missing = append(r.Missing, Finding{typ, a.Key, fmt.Sprintf("acknowledged at %s %d/%d, which holds another value", a.Topic, a.Partition, a.Offset)})
			continue
		case a.CommandID != "" && rec.Headers[hdrCommandID] != a.CommandID:
			r.Missing = append(r.Missing, Finding{typ, a.Key, fmt.Sprintf("command %s acknowledged at %d/%d, which holds command %q", a.CommandID, a.Partition, a.Offset, rec.Headers[hdrCommandID])})
			continue
		}
		if a.CommandID == "" {
			continue
		}
		ev, _ := f.Event(a.Topic, a.Partition, a.Offset)
		switch {
		case ev == nil || !ev.Applied:
			r.NotApplied = append(r.NotApplied, Finding{typ, a.Key, fmt.Sprintf("command %s acknowledged (version %d), its last event at %d/%d is not applied by the fold", a.CommandID, a.Version, a.Partition, a.Offset)})
		case ev.Version != a.Version:
			r.NotApplied = append(r.NotApplied, Finding{typ, a.Key, fmt.Sprintf("command %s acknowledged at version %d, the fold applies it at version %d", a.CommandID, a.Version, ev.Version)})
		}
	}
	sortFindings(r.Missing)
	sortFindings(r.NotApplied)
	return r
}

func (f *Fold) typeOfTopic(topic string) string {
	if typ, ok := f.topics[topic]; ok {
		return typ
	}
	return topic
}

// NodeReport compares what the nodes serve with the fold.
type NodeReport struct {
	Checked      int
	Mismatched   []Finding // same version, different state or offset
	AppliedTwice []Finding // version higher than the fold's
	Behind       []Finding // version lower (lost, or not applied yet)
	Errors       []Finding
}

// Converged: no entity is behind and no read failed.
func (r NodeReport) Converged() bool { return len(r.Behind) == 0 && len(r.Errors) == 0 }

// Wrong: some entity differs in a way waiting cannot fix.
func (r NodeReport) Wrong() bool { return len(r.Mismatched) > 0 || len(r.AppliedTwice) > 0 }

// CompareNodes reads every entity of the fold from a node picked at random
// (seeded) and compares version, offset and state.
func (f *Fold) CompareNodes(ctx context.Context, nodes []Node, seed int64) NodeReport {
	type job struct {
		e    *Entity
		node Node
	}
	rng := rand.New(rand.NewSource(seed))
	var jobs []job
	for _, typ := range sortedKeys(f.Entities) {
		for _, id := range sortedKeys(f.Entities[typ]) {
			jobs = append(jobs, job{f.Entities[typ][id], nodes[rng.Intn(len(nodes))]})
		}
	}
	var (
		mu  sync.Mutex
		r   NodeReport
		wg  sync.WaitGroup
		ch  = make(chan job)
		add = func(list *[]Finding, e *Entity, format string, args ...any) {
			*list = append(*list, Finding{e.Type, e.ID, fmt.Sprintf(format, args...)})
		}
	)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range ch {
				s, found, err := j.node.Get(ctx, j.e.Type, j.e.ID)
				mu.Lock()
				r.Checked++
				e := j.e
				switch {
				case err != nil:
					add(&r.Errors, e, "via %s: %v", j.node.Name(), err)
				case !found && e.Version == 0:
				case !found:
					add(&r.Behind, e, "via %s: not found, the fold is at version %d", j.node.Name(), e.Version)
				case s.Version > e.Version:
					add(&r.AppliedTwice, e, "via %s: version %d, the fold is at %d", j.node.Name(), s.Version, e.Version)
				case s.Version < e.Version:
					add(&r.Behind, e, "via %s: version %d, the fold is at %d", j.node.Name(), s.Version, e.Version)
				case e.Version == 0:
				case s.Offset != e.Offset:
					add(&r.Mismatched, e, "via %s: version %d at offset %d, the fold's is at offset %d", j.node.Name(), s.Version, s.Offset, e.Offset)
				case !sameJSON(s.State, e.State):
					add(&r.Mismatched, e, "via %s: version %d state %s, the fold's %s", j.node.Name(), s.Version, s.State, e.State)
				}
				mu.Unlock()
			}
		}()
	}
	for _, j := range jobs {
		ch <- j
	}
	close(ch)
	wg.Wait()
	for _, l := range []*[]Finding{&r.Mismatched, &r.AppliedTwice, &r.Behind, &r.Errors} {
		sortFindings(*l)
	}
	return r
}

// HistoryReport compares history listings and ?version=N answers of a
// sample of entities with the fold.
type HistoryReport struct {
	Entities, Events, Versions int // checked
	Mismatched                 []Finding
	Errors                     []Finding
}

// CheckHistory lists the events of sample entities (picked with seed among
// those with at least one event) from a node each and compares offsets,
// applied flags and versions with the fold; then asks up to three
// ?version=N per entity and compares them with the fold up to N.
func (f *Fold) CheckHistory(ctx context.Context, nodes []Node, sample int, seed int64) HistoryReport {
	var all []*Entity
	for _, typ := range sortedKeys(f.Entities) {
		for _, id := range sortedKeys(f.Entities[typ]) {
			all = append(all, f.Entities[typ][id])
		}
	}
	rng := rand.New(rand.NewSource(seed))
	rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	var r HistoryReport
	for _, e := range all[:min(sample, len(all))] {
		n := nodes[rng.Intn(len(nodes))]
		r.Entities++
		list, err := n.History(ctx, e.Type, e.ID)
		if err != nil {
			r.Errors = append(r.Errors, Finding{e.Type, e.ID, fmt.Sprintf("history via %s: %v", n.Name(), err)})
			continue
		}
		r.Events += len(list)
		if d := diffHistory(list, e.Events); d != "" {
			r.Mismatched = append(r.Mismatched, Finding{e.Type, e.ID, fmt.Sprintf("history via %s: %s", n.Name(), d)})
		}
		if e.Version == 0 {
			continue
		}
		vs := map[uint64]bool{e.Version: true, 1: true, 1 + uint64(rng.Int63n(int64(e.Version))): true}
		for _, v := range sortedKeys(vs) {
			r.Versions++
			want, off, _ := f.StateAt(e.Type, e.ID, v)
			got, err := n.StateAt(ctx, e.Type, e.ID, v)
			switch {
			case err != nil:
				r.Errors = append(r.Errors, Finding{e.Type, e.ID, fmt.Sprintf("version=%d via %s: %v", v, n.Name(), err)})
			case got.Version != v || got.Offset != off || !sameJSON(got.State, want):
				r.Mismatched = append(r.Mismatched, Finding{e.Type, e.ID, fmt.Sprintf("version=%d via %s: version %d offset %d state %s, the fold's offset %d state %s",
					v, n.Name(), got.Version, got.Offset, got.State, off, want)})
			}
		}
	}
	sortFindings(r.Mismatched)
	sortFindings(r.Errors)
	return r
}

func diffHistory(got []Listed, want []Event) string {
	seen := map[[2]int64]bool{}
	for _, g := range got {
		k := [2]int64{int64(g.Partition), g.Offset}
		if seen[k] {
			return fmt.Sprintf("node lists event %d/%d twice (%d events listed, the fold has %d)", g.Partition, g.Offset, len(got), len(want))
		}
		seen[k] = true
	}
	for i := 0; i < min(len(got), len(want)); i++ {
		g, w := got[i], want[i]
		if g.Partition != w.Partition || g.Offset != w.Offset || g.Applied != w.Applied || g.Version != w.Version {
			return fmt.Sprintf("event %d: node {%d/%d applied %v version %d}, fold {%d/%d applied %v version %d}",
				i, g.Partition, g.Offset, g.Applied, g.Version, w.Partition, w.Offset, w.Applied, w.Version)
		}
	}
	if len(got) != len(want) {
		return fmt.Sprintf("node lists %d events, the fold has %d", len(got), len(want))
	}
	return ""
}

// sameJSON compares two JSON documents by value (key order and spacing
// aside).
func sameJSON(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

func sortedKeys[K interface{ ~string | ~uint64 }, V any](m map[K]V) []K {
	ks := make([]K, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool { return ks[i] < ks[j] })
	return ks
}

func sortFindings(l []Finding) {
	sort.Slice(l, func(i, j int) bool {
		if l[i].Entity != l[j].Entity {
			return l[i].Entity < l[j].Entity
		}
		return l[i].ID < l[j].ID
	})
}

// Report is everything one check found.
type Report struct {
	Acks    AckReport
	Nodes   NodeReport
	History HistoryReport
}

// OK: nothing lost, nothing wrong, nothing behind, no errors.
func (r Report) OK() bool {
	return len(r.Acks.Missing) == 0 && len(r.Acks.NotApplied) == 0 && r.Nodes.Converged() && !r.Nodes.Wrong() &&
		len(r.History.Mismatched) == 0 && len(r.History.Errors) == 0
}

// String is the one-line summary used in test logs and docs/reliability.md.
func (r Report) String() string {
	s := fmt.Sprintf("acks checked %d: missing %d, command not applied %d; entities checked %d: mismatched %d, applied twice %d, behind %d, errors %d; history of %d entities (%d events, %d versions): mismatched %d, errors %d",
		r.Acks.Checked, len(r.Acks.Missing), len(r.Acks.NotApplied),
		r.Nodes.Checked, len(r.Nodes.Mismatched), len(r.Nodes.AppliedTwice), len(r.Nodes.Behind), len(r.Nodes.Errors),
		r.History.Entities, r.History.Events, r.History.Versions, len(r.History.Mismatched), len(r.History.Errors))
	if first := r.First(); first != "" {
		s += "; first: " + first
	}
	return s
}

// First is the first finding, in the order of the report.
func (r Report) First() string {
	for _, l := range [][]Finding{r.Acks.Missing, r.Acks.NotApplied, r.Nodes.AppliedTwice, r.Nodes.Mismatched,
		r.History.Mismatched, r.Nodes.Behind, r.Nodes.Errors, r.History.Errors} {
		if len(l) > 0 {
			return strings.SplitN(l[0].String(), "\n", 2)[0]
		}
	}
	return ""
}
