package checker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
)

// The demo projections (demo/projections), written again from their rules
// as docs/projections.md and the demo state them, with the checker's own
// structs and its own fold of the source entities:
//
//   - customer-orders, keyed by an order's customer id: every order event
//     the order's fold applies is one input to its customer; the state is
//     {open: {order id: total_cents of the orders now created or approved},
//     orders: how many OrderCreated were applied, lifetime_cents: the sum of
//     the order's total_cents at each applied OrderShipped}.
//   - users-by-role, keyed by role: every applied user event that makes the
//     user's effective roles (none once deleted) gain or lose a role is one
//     input to that role (one per role gained or lost); the state is
//     {users: the sorted ids of the users holding the role}.
//
// A key's version is the number of inputs applied to it.

// Projection names, as served under /v1/projections/{name}.
const (
	CustomerOrders = "customer-orders"
	UsersByRole    = "users-by-role"
)

// ProjectionNames are the demo projections the checker computes.
func ProjectionNames() []string { return []string{CustomerOrders, UsersByRole} }

// Expected is a projection key as the checker computes it.
type Expected struct {
	Version uint64          // inputs applied to the key
	State   json.RawMessage // the state JSON
	Inputs  []Input         // the inputs, in the order the checker applied them
}

// Input is one input of a projection key: the source event it comes from
// and what it says (for failure messages; the checker's own words).
type Input struct {
	Entity    string
	Partition int32
	Offset    int64
	Index     int             // its place among the event's inputs
	What      json.RawMessage // e.g. {"order":"o1","status":"shipped","total_cents":5,"shipped":true}
}

func (i Input) String() string {
	return fmt.Sprintf("%s/%d/%d/%d %s", i.Entity, i.Partition, i.Offset, i.Index, i.What)
}

// customerState is the state JSON of a customer-orders key.
type customerState struct {
	Open          map[string]int64 `json:"open"`
	Orders        int              `json:"orders"`
	LifetimeCents int64            `json:"lifetime_cents"`
}

// roleState is the state JSON of a users-by-role key.
type roleState struct {
	Users []string `json:"users"`
}

// Projections computes both demo projections from the fold's orders and
// users: Projections()[name][key]. Each entity's applied events are run
// through the checker's own domain rules again, in order, to get the
// entity's state before and after each of them.
func (f *Fold) Projections() (map[string]map[string]Expected, error) {
	customers := map[string]*customerState{}
	custInputs := map[string][]Input{}
	for _, id := range sortedKeys(f.Entities["orders"]) {
		e := f.Entities["orders"][id]
		err := e.eachApplied(domains["orders"], func(r *Record, _, after any) error {
			o := after.(order)
			if o.CustomerID == "" {
				return nil
			}
			var ev orderEvent
			if err := json.Unmarshal(r.Value, &ev); err != nil {
				return err
			}
			c := customers[o.CustomerID]
			if c == nil {
				c = &customerState{Open: map[string]int64{}}
				customers[o.CustomerID] = c
			}
			custInputs[o.CustomerID] = append(custInputs[o.CustomerID], Input{"orders", r.Partition, r.Offset, 0,
				mustJSON(map[string]any{"order": e.ID, "status": o.Status, "total_cents": o.TotalCents,
					"created": ev.Type == "OrderCreated", "shipped": ev.Type == "OrderShipped"})})
			if o.Status == "created" || o.Status == "approved" {
				c.Open[e.ID] = o.TotalCents
			} else {
				delete(c.Open, e.ID)
			}
			if ev.Type == "OrderCreated" {
				c.Orders++
			}
			if ev.Type == "OrderShipped" {
				c.LifetimeCents += o.TotalCents
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}

	holders := map[string]map[string]bool{} // role -> user ids
	roleInputs := map[string][]Input{}
	for _, id := range sortedKeys(f.Entities["users"]) {
		e := f.Entities["users"][id]
		err := e.eachApplied(domains["users"], func(rec *Record, before, after any) error {
			was, is := effectiveRoles(before.(user)), effectiveRoles(after.(user))
			// Index: losses first, then gains, each in role order (the
			// order the demo's map emits them; only for messages).
			index := 0
			for _, r := range sortedKeys(was) {
				if !is[r] {
					roleInputs[r] = append(roleInputs[r], Input{"users", rec.Partition, rec.Offset, index, mustJSON(map[string]any{"user": e.ID, "holds": false})})
					index++
					delete(holders[r], e.ID)
				}
			}
			for _, r := range sortedKeys(is) {
				if !was[r] {
					roleInputs[r] = append(roleInputs[r], Input{"users", rec.Partition, rec.Offset, index, mustJSON(map[string]any{"user": e.ID, "holds": true})})
					index++
					if holders[r] == nil {
						holders[r] = map[string]bool{}
					}
					holders[r][e.ID] = true
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}

	out := map[string]map[string]Expected{CustomerOrders: {}, UsersByRole: {}}
	for k, c := range customers {
		in := custInputs[k]
		out[CustomerOrders][k] = Expected{Version: uint64(len(in)), State: mustJSON(c), Inputs: in}
	}
	for r, in := range roleInputs {
		s := roleState{Users: []string{}} // a role all users left: an empty list
		for u := range holders[r] {
			s.Users = append(s.Users, u)
		}
		sort.Strings(s.Users)
		out[UsersByRole][r] = Expected{Version: uint64(len(in)), State: mustJSON(s), Inputs: in}
	}
	return out, nil
}

// effectiveRoles are the roles a user holds: none once deleted.
func effectiveRoles(u user) map[string]bool {
	m := map[string]bool{}
	if u.Deleted {
		return m
	}
	for _, r := range u.Roles {
		m[r] = true
	}
	return m
}

// eachApplied calls fn for each event the fold applied, in order, with the
// entity's state before and after it (an applied event of a command
// included: its events apply in order onto the state before the command).
func (e *Entity) eachApplied(d domain, fn func(r *Record, before, after any) error) error {
	state := d.zero()
	for i, ev := range e.Events {
		if !ev.Applied {
			continue
		}
		r := e.records[i]
		next, err := d.evolve(state, r.Value)
		if err != nil {
			return fmt.Errorf("checker: %s/%s event at %d/%d is applied by the fold but does not evolve: %v", e.Type, e.ID, r.Partition, r.Offset, err)
		}
		if err := fn(r, state, next); err != nil {
			return fmt.Errorf("checker: %s/%s event at %d/%d: %v", e.Type, e.ID, r.Partition, r.Offset, err)
		}
		state = next
	}
	return nil
}

// ProjectionItem is one key of a projection as a node lists or serves it.
type ProjectionItem struct {
	ID        string          `json:"id"`
	Version   uint64          `json:"version"`
	Partition int32           `json:"partition"`
	Offset    int64           `json:"offset"`
	State     json.RawMessage `json:"state"`
}

// ListProjection lists every key of a projection: GET
// /v1/projections/{name}?limit=1000, following next until it is null.
func (n *HTTPNode) ListProjection(ctx context.Context, name string) ([]ProjectionItem, error) {
	var out []ProjectionItem
	var after *string
	for page := 0; page < 100_000; page++ {
		var resp struct {
			Items []ProjectionItem `json:"items"`
			Next  *string          `json:"next"`
		}
		q := url.Values{"limit": {"1000"}}
		if after != nil {
			q.Set("after", *after)
		}
		if err := n.getJSON(ctx, "/v1/projections/"+url.PathEscape(name), q, &resp); err != nil {
			return nil, fmt.Errorf("list %s page %d: %w", name, page, err)
		}
		out = append(out, resp.Items...)
		if resp.Next == nil {
			return out, nil
		}
		if *resp.Next == "" || (after != nil && *resp.Next == *after) {
			return nil, fmt.Errorf("list %s page %d: cursor %q does not move", name, page, *resp.Next)
		}
		after = resp.Next
	}
	return nil, errors.New("list: too many pages")
}

// GetProjection reads one key of a projection: GET
// /v1/projections/{name}/{key}; found is false for a 404.
func (n *HTTPNode) GetProjection(ctx context.Context, name, key string) (ProjectionItem, bool, error) {
	var it ProjectionItem
	err := n.getJSON(ctx, "/v1/projections/"+url.PathEscape(name)+"/"+url.PathEscape(key), nil, &it)
	if errors.Is(err, errNotFound) {
		return ProjectionItem{}, false, nil
	}
	return it, err == nil, err
}

// ProjectionReport compares a projection as a node lists it with the
// checker's.
type ProjectionReport struct {
	Projection, Node string
	Checked          int       // keys the checker expects, compared
	Listed           int       // items the node listed
	Mismatched       []Finding // same version, another state
	AppliedTwice     []Finding // version higher than the checker's: an input applied twice
	Behind           []Finding // version lower: an input lost or not applied yet
	Missing          []Finding // expected, not listed
	Extra            []Finding // listed, not expected
	Duplicated       []Finding // listed more than once
	Errors           []Finding
}

// Differences counts every finding.
func (r ProjectionReport) Differences() int {
	return len(r.Mismatched) + len(r.AppliedTwice) + len(r.Behind) + len(r.Missing) + len(r.Extra) + len(r.Duplicated) + len(r.Errors)
}

// Wrong: something waiting cannot fix (a key ahead, or listed twice). A
// key at the checker's version with another state is wrong too.
func (r ProjectionReport) Wrong() bool {
	return len(r.Mismatched) > 0 || len(r.AppliedTwice) > 0 || len(r.Extra) > 0 || len(r.Duplicated) > 0
}

// Findings are all findings, the wrong ones first.
func (r ProjectionReport) Findings() []Finding {
	var out []Finding
	for _, l := range [][]Finding{r.AppliedTwice, r.Mismatched, r.Extra, r.Duplicated, r.Behind, r.Missing, r.Errors} {
		out = append(out, l...)
	}
	return out
}

func (r ProjectionReport) String() string {
	s := fmt.Sprintf("%s via %s: %d keys checked, %d listed: mismatched %d, applied twice %d, behind %d, missing %d, extra %d, listed twice %d, errors %d",
		r.Projection, r.Node, r.Checked, r.Listed, len(r.Mismatched), len(r.AppliedTwice), len(r.Behind), len(r.Missing), len(r.Extra), len(r.Duplicated), len(r.Errors))
	if fs := r.Findings(); len(fs) > 0 {
		s += "; first: " + fs[0].String()
	}
	return s
}

// CompareProjection lists every key of the projection from the node and
// compares each with want: version, then state (as JSON values).
func CompareProjection(ctx context.Context, n *HTTPNode, name string, want map[string]Expected) ProjectionReport {
	r := ProjectionReport{Projection: name, Node: n.Name()}
	got, err := n.ListProjection(ctx, name)
	if err != nil {
		r.Errors = append(r.Errors, Finding{name, "", fmt.Sprintf("via %s: %v", n.Name(), err)})
		return r
	}
	r.Listed = len(got)
	served := map[string]ProjectionItem{}
	for _, it := range got {
		if _, dup := served[it.ID]; dup {
			r.Duplicated = append(r.Duplicated, Finding{name, it.ID, fmt.Sprintf("via %s: listed more than once", n.Name())})
			continue
		}
		served[it.ID] = it
		if _, ok := want[it.ID]; !ok {
			r.Extra = append(r.Extra, Finding{name, it.ID, fmt.Sprintf("via %s: listed at version %d state %s, the checker has no such key", n.Name(), it.Version, it.State)})
		}
	}
	for _, k := range sortedKeys(want) {
		w := want[k]
		r.Checked++
		s, ok := served[k]
		switch {
		case !ok:
			r.Missing = append(r.Missing, Finding{name, k, fmt.Sprintf("via %s: not listed, the checker has version %d state %s", n.Name(), w.Version, w.State)})
		case s.Version > w.Version:
			r.AppliedTwice = append(r.AppliedTwice, Finding{name, k, fmt.Sprintf("via %s: version %d state %s, the checker has version %d state %s", n.Name(), s.Version, s.State, w.Version, w.State)})
		case s.Version < w.Version:
			r.Behind = append(r.Behind, Finding{name, k, fmt.Sprintf("via %s: version %d, the checker has %d", n.Name(), s.Version, w.Version)})
		case !sameJSON(s.State, w.State):
			r.Mismatched = append(r.Mismatched, Finding{name, k, fmt.Sprintf("via %s: version %d state %s, the checker's %s", n.Name(), s.Version, s.State, w.State)})
		}
	}
	for _, l := range [][]Finding{r.Extra, r.Duplicated} {
		sortFindings(l)
	}
	return r
}

// CheckProjectionKeys reads sample keys of the projection one by one (GET
// /v1/projections/{name}/{key}) plus one key the checker does not have,
// and reports each answer unlike want (absent: a 404).
func CheckProjectionKeys(ctx context.Context, n *HTTPNode, name string, want map[string]Expected, keys []string) []Finding {
	var out []Finding
	for _, k := range append(keys, "no-such-key-in-"+name) {
		w, expected := want[k]
		s, found, err := n.GetProjection(ctx, name, k)
		switch {
		case err != nil:
			out = append(out, Finding{name, k, fmt.Sprintf("GET via %s: %v", n.Name(), err)})
		case !expected && found:
			out = append(out, Finding{name, k, fmt.Sprintf("GET via %s: version %d state %s, the checker has no such key", n.Name(), s.Version, s.State)})
		case !expected:
		case !found:
			out = append(out, Finding{name, k, fmt.Sprintf("GET via %s: 404, the checker has version %d", n.Name(), w.Version)})
		case s.ID != k || s.Version != w.Version || !sameJSON(s.State, w.State):
			out = append(out, Finding{name, k, fmt.Sprintf("GET via %s: id %q version %d state %s, the checker has version %d state %s", n.Name(), s.ID, s.Version, s.State, w.Version, w.State)})
		}
	}
	return out
}
