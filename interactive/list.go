package interactive

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/mux"

	"github.com/eventfold/eventfold"
	"github.com/eventfold/eventfold/entity"
	"github.com/eventfold/eventfold/limits"
	"github.com/eventfold/eventfold/table"
)

// ListResponse is the body of GET /v1/{entity}: ids in key (byte) order.
type ListResponse struct {
	Entity string     `json:"entity"`
	Items  []ListItem `json:"items"`
	// Next is the cursor of the next page (pass it as ?after=); null once
	// the listing is complete.
	Next  *string `json:"next"`
	Limit int     `json:"limit"`
}

// ListItem is one listed entity.
type ListItem struct {
	ID        string          `json:"id"`
	Version   uint64          `json:"version"`
	Partition int32           `json:"partition"`
	Offset    int64           `json:"offset"`
	UpdatedAt time.Time       `json:"updated_at"`
	State     json.RawMessage `json:"state,omitempty"` // absent with ?state=false
	// Stale marks an item read from a standby copy because the partition's
	// owner did not answer within the lookup deadline.
	Stale bool `json:"stale,omitempty"`
}

// listPartsResponse is a node's answer to a peer gathering a page
// (GET /v1/{entity}?partitions=…, hop header set): the partitions it
// read, and why it did not read the others.
type listPartsResponse struct {
	Parts   []listPart    `json:"parts"`
	Missing []missingPart `json:"missing"`
}

type listPart struct {
	Partition int32      `json:"partition"`
	Items     []ListItem `json:"items"`
	More      bool       `json:"more"`
}

type missingPart struct {
	Partition int32  `json:"partition"`
	Code      string `json:"code"`
	Error     string `json:"error"`
}

// defaultListPage is the page size without ?limit=.
const defaultListPage = 100

// minPartBytes is the least a partition may put in its share of a page;
// the page's bytes are otherwise split evenly between the partitions.
const minPartBytes = 64 << 10

var listParams = []string{"prefix", "after", "limit", "state", "consistency", "partitions"}

type listQuery struct {
	prefix, after string // after: the cursor's id, "" on the first page
	limit         int
	noState       bool
	strong        bool
	partitions    []int32 // a peer's request: only these, read here
}

// partQuery is the query each partition answers for a page of lq over n
// partitions.
func (lq listQuery) partQuery(n int32) table.ListQuery {
	return table.ListQuery{Prefix: lq.prefix, After: lq.after, Limit: lq.limit, NoState: lq.noState,
		MaxBytes: max(limits.ListPageBytes/int(max(n, 1)), minPartBytes)}
}

// cursor is what ?after= carries: the last id of a page and the prefix it
// was listed with (a cursor is only good for the same prefix).
type cursor struct {
	Prefix string `json:"p"`
	ID     string `json:"k"`
}

func encodeListCursor(prefix, id string) string {
	b, _ := json.Marshal(cursor{Prefix: prefix, ID: id})
	return base64.RawURLEncoding.EncodeToString(b)
}

func parseListQuery(raw string) (listQuery, error) {
	q, err := parseQuery(raw, listParams...)
	if err != nil {
		return listQuery{}, err
	}
	lq := listQuery{prefix: q.Get("prefix"), limit: defaultListPage}
	if err := validateIDText("prefix", lq.prefix); err != nil {
		return lq, err
	}
	if q.Has("limit") {
		l := q.Get("limit")
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > limits.ListPageItems {
			return lq, fmt.Errorf("%w: limit=%s, want 1..%d", eventfold.ErrInvalid, short(l), limits.ListPageItems)
		}
		lq.limit = n
	}
	switch v := q.Get("state"); v {
	case "", "true":
	case "false":
		lq.noState = true
	default:
		return lq, fmt.Errorf("%w: state=%s, want true or false", eventfold.ErrInvalid, short(v))
	}
	switch c := q.Get("consistency"); c {
	case "", "eventual":
	case "strong":
		lq.strong = true
	default:
		return lq, fmt.Errorf("%w: consistency=%s, want strong or eventual", eventfold.ErrInvalid, short(c))
	}
	if q.Has("after") {
		a := q.Get("after")
		b, err := base64.RawURLEncoding.DecodeString(a)
		var c cursor
		if err != nil || json.Unmarshal(b, &c) != nil || validateID(c.ID) != nil {
			return lq, fmt.Errorf("%w: after=%s is not the next of a page of this route", eventfold.ErrInvalid, short(a))
		}
		if c.Prefix != lq.prefix {
			return lq, fmt.Errorf("%w: the cursor in after= was made for prefix=%s, not %s", eventfold.ErrInvalid, short(c.Prefix), short(lq.prefix))
		}
		lq.after = c.ID
	}
	if q.Has("partitions") {
		p := q.Get("partitions")
		for _, f := range strings.Split(p, ",") {
			n, err := strconv.ParseInt(f, 10, 32)
			if err != nil || n < 0 || slices.Contains(lq.partitions, int32(n)) {
				// Each partition once: a repeated one would be read again.
				return lq, fmt.Errorf("%w: partitions=%s, want distinct partition numbers separated by commas", eventfold.ErrInvalid, short(p))
			}
			lq.partitions = append(lq.partitions, int32(n))
		}
	}
	return lq, nil
}

// listEntities handles GET /v1/{entity}: a page gathered from the owners
// of every partition, each partition read exactly once, merged in key
// order (docs/projections.md proves a listing across a rebalance returns
// each id once).
func (s *Server) listEntities(r *http.Request) (any, error) {
	raw := mux.Vars(r)["entity"]
	entityName, err := url.PathUnescape(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: entity type %s is not a valid path segment", eventfold.ErrInvalid, short(raw))
	}
	typ, ok := s.b.Catalog.Type(entityName)
	if !ok {
		return nil, fmt.Errorf("%w: unknown entity type %s", eventfold.ErrNotFound, short(entityName))
	}
	lq, err := parseListQuery(r.URL.RawQuery)
	if err != nil {
		return nil, err
	}
	if lq.partitions != nil {
		if r.Header.Get(HeaderHop) == "" {
			return nil, fmt.Errorf("%w: partitions= is for the nodes gathering a page", eventfold.ErrInvalid)
		}
		if n := s.b.Catalog.Partitions(entityName); len(lq.partitions) > int(n) {
			return nil, fmt.Errorf("%w: %d partitions asked, %s has %d", eventfold.ErrInvalid, len(lq.partitions), entityName, n)
		}
		return s.listHere(r.Context(), typ, lq, r.Header.Get(HeaderStandby) != ""), nil
	}
	n := s.b.Catalog.Partitions(entityName)
	if n <= 0 {
		return nil, fmt.Errorf("%w: partition count of %s not known yet", eventfold.ErrNotRecovered, entityName)
	}
	parts, err := s.gatherList(r, typ, lq, n)
	if err != nil {
		return nil, err
	}
	return mergeList(entityName, lq, parts), nil
}

// listHere reads the partitions lq names on this node: as their owner, or
// from its copies when standby. It never forwards.
func (s *Server) listHere(ctx context.Context, typ *entity.Type, lq listQuery, standby bool) listPartsResponse {
	out := listPartsResponse{Parts: []listPart{}, Missing: []missingPart{}}
	n := s.b.Catalog.Partitions(typ.Name())
	pq := lq.partQuery(n)
	for _, p := range lq.partitions {
		part, err := s.readPart(ctx, typ, p, pq, standby)
		if err != nil {
			code, _ := classify(err)
			out.Missing = append(out.Missing, missingPart{Partition: p, Code: code, Error: limits.Truncate(err.Error(), 512)})
			continue
		}
		out.Parts = append(out.Parts, part)
	}
	return out
}

// readPart reads one partition here, its states as JSON.
func (s *Server) readPart(ctx context.Context, typ *entity.Type, p int32, pq table.ListQuery, standby bool) (listPart, error) {
	var (
		tp  table.ListPart
		err error
	)
	switch {
	case standby:
		tp, err = s.b.Standby.ListStandby(ctx, typ.Name(), p, pq)
	case s.b.Owner == nil:
		return listPart{}, &table.NotOwnerError{Entity: typ.Name(), Partition: p}
	default:
		tp, err = s.b.Owner.List(ctx, typ.Name(), p, pq)
	}
	if err != nil {
		return listPart{}, err
	}
	out := listPart{Partition: p, Items: make([]ListItem, 0, len(tp.Items)), More: tp.More}
	for _, e := range tp.Items {
		it := ListItem{ID: e.Key, Version: e.Version, Partition: e.Partition, Offset: e.Offset, UpdatedAt: e.UpdatedAt, Stale: standby}
		if !pq.NoState {
			if it.State, err = typ.StateJSON(e.State); err != nil {
				return listPart{}, fmt.Errorf("%s %s: state: %w", typ.Name(), short(e.Key), err)
			}
		}
		out.Items = append(out.Items, it)
	}
	return out, nil
}

// gatherList reads every partition once: here or at its owner, asking
// again (within the lookup deadline) for the partitions whose owner did
// not answer or no longer owns them, at their owner in the refreshed map.
// Past the deadline, without consistency=strong, standby copies answer
// for the rest (their items marked stale); a partition nobody answers
// fails the page.
func (s *Server) gatherList(r *http.Request, typ *entity.Type, lq listQuery, n int32) (map[int32]listPart, error) {
	ctx := r.Context()
	got := make(map[int32]listPart, n)
	pending := make([]int32, 0, n)
	for p := range n {
		pending = append(pending, p)
	}
	deadline := time.Now().Add(s.cfg.lookupDeadline)
	backoff := 20 * time.Millisecond
	var lastErr error
	for {
		snap := s.own.Snapshot()
		byOwner := map[string][]int32{}
		var here []int32
		for _, p := range pending {
			if m, ok := snap.Owner(typ.Name(), p); ok && m.ID != s.self.ID {
				byOwner[m.ID] = append(byOwner[m.ID], p)
			} else {
				here = append(here, p) // ours, or no owner known: read here or learn why not
			}
		}
		answers := s.askAll(ctx, typ, lq, here, byOwner, snap, false)
		pending = pending[:0]
		for _, a := range answers {
			for _, part := range a.parts.Parts {
				got[part.Partition] = part
			}
			if a.err != nil {
				lastErr = a.err
			}
			for _, m := range a.parts.Missing {
				lastErr = fmt.Errorf("%w: partition %d: %s", sentinel(m.Code), m.Partition, m.Error)
			}
		}
		for p := range n {
			if _, ok := got[p]; !ok {
				pending = append(pending, p)
			}
		}
		if len(pending) == 0 {
			return got, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		s.own.Kick()
		if time.Now().Add(backoff).After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 500*time.Millisecond)
	}
	if lq.strong {
		return nil, fmt.Errorf("%w: %s: no owner answered for partitions %v within %v and consistency=strong refuses standbys: %v",
			eventfold.ErrStale, typ.Name(), pending, s.cfg.lookupDeadline, lastErr)
	}
	// Our copies first, then each replica's, each partition still once.
	snap := s.own.Snapshot()
	for _, a := range s.askAll(ctx, typ, lq, pending, nil, snap, true) {
		for _, part := range a.parts.Parts {
			got[part.Partition] = part
		}
	}
	for _, m := range snap.Replicas {
		rest := missing(got, n)
		if len(rest) == 0 || m.ID == s.self.ID {
			continue
		}
		a := s.askParts(ctx, typ, lq, m, rest, true)
		for _, part := range a.parts.Parts {
			if _, dup := got[part.Partition]; !dup && slices.Contains(rest, part.Partition) {
				got[part.Partition] = part
			}
		}
	}
	if rest := missing(got, n); len(rest) > 0 {
		return nil, fmt.Errorf("%w: %s: no owner answered for partitions %v within %v and no standby copy: %v",
			gaveUp(lastErr), typ.Name(), rest, s.cfg.lookupDeadline, lastErr)
	}
	return got, nil
}

func missing(got map[int32]listPart, n int32) []int32 {
	var out []int32
	for p := range n {
		if _, ok := got[p]; !ok {
			out = append(out, p)
		}
	}
	return out
}

type partsAnswer struct {
	parts listPartsResponse
	err   error
}

// askAll reads here (the partitions in here) and asks each owner in
// byOwner for its partitions, all at once.
func (s *Server) askAll(ctx context.Context, typ *entity.Type, lq listQuery, here []int32, byOwner map[string][]int32, snap *Snapshot, standby bool) []partsAnswer {
	out := make([]partsAnswer, 1+len(byOwner))
	var wg sync.WaitGroup
	i := 1
	for id, ps := range byOwner {
		m, slot := snap.Members[id], i
		wg.Go(func() { out[slot] = s.askParts(ctx, typ, lq, m, ps, standby) })
		i++
	}
	if len(here) > 0 {
		local := lq // lq is the goroutines' too
		local.partitions = here
		out[0].parts = s.listHere(ctx, typ, local, standby)
	}
	wg.Wait()
	return out
}

// askParts asks member m for its share of partitions ps (signed as a
// forward, within the forward timeout). Only the partitions asked are
// kept from its answer.
func (s *Server) askParts(ctx context.Context, typ *entity.Type, lq listQuery, m Member, ps []int32, standby bool) partsAnswer {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.forwardTimeout)
	defer cancel()
	q := url.Values{}
	q.Set("limit", strconv.Itoa(lq.limit))
	if lq.prefix != "" {
		q.Set("prefix", lq.prefix)
	}
	if lq.after != "" {
		q.Set("after", encodeListCursor(lq.prefix, lq.after))
	}
	if lq.noState {
		q.Set("state", "false")
	}
	nums := make([]string, len(ps))
	for i, p := range ps {
		nums[i] = strconv.Itoa(int(p))
	}
	q.Set("partitions", strings.Join(nums, ","))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.URL+"/v1/"+url.PathEscape(typ.Name())+"?"+q.Encode(), nil)
	if err != nil {
		return partsAnswer{err: err}
	}
	if standby {
		req.Header.Set(HeaderStandby, "1")
	}
	s.fromPeer(req)
	resp, err := s.client.Do(req)
	if err != nil {
		s.metrics.forwards.WithLabelValues("error").Inc()
		return partsAnswer{err: fmt.Errorf("%w: %s (%s) unreachable: %v", eventfold.ErrUnavailable, m.ID, m.URL, err)}
	}
	defer resp.Body.Close()
	// Each partition's share is bounded by its bytes, or one item (at most
	// an envelope), JSON-escaped.
	bound := int64(len(ps)) * (2*int64(lq.partQuery(s.b.Catalog.Partitions(typ.Name())).MaxBytes+limits.EnvelopeBytes) + 4096)
	body, err := io.ReadAll(io.LimitReader(resp.Body, bound+1))
	switch {
	case err != nil:
		return partsAnswer{err: fmt.Errorf("%w: reading the answer of %s: %v", eventfold.ErrUnavailable, m.ID, err)}
	case int64(len(body)) > bound:
		return partsAnswer{err: fmt.Errorf("%w: the answer of %s is over %d bytes", ErrBadGateway, m.ID, bound)}
	case resp.StatusCode != http.StatusOK:
		return partsAnswer{err: decodeError(resp.StatusCode, body)}
	}
	var a listPartsResponse
	if err := json.Unmarshal(body, &a); err != nil {
		return partsAnswer{err: fmt.Errorf("%w: the answer of %s does not decode: %v", ErrBadGateway, m.ID, err)}
	}
	s.metrics.forwards.WithLabelValues("ok").Inc()
	kept := a.Parts[:0]
	for _, part := range a.Parts {
		if slices.Contains(ps, part.Partition) && sortedAbove(part.Items, lq) {
			kept = append(kept, part)
		}
	}
	a.Parts = kept
	return partsAnswer{parts: a}
}

// sortedAbove checks a peer's share: ids ascending, above the cursor,
// with the prefix; a share that is not is dropped (asked again).
func sortedAbove(items []ListItem, lq listQuery) bool {
	prev := lq.after
	for i, it := range items {
		if (i > 0 || lq.after != "") && it.ID <= prev || !strings.HasPrefix(it.ID, lq.prefix) {
			return false
		}
		prev = it.ID
	}
	return true
}

// mergeList makes the page: the items at or below the cut (the smallest
// last id of the partitions that have more), in key order, up to the
// limit and the page's bytes; next continues after the last one.
func mergeList(entityName string, lq listQuery, parts map[int32]listPart) ListResponse {
	cut, cutting := "", false
	for _, p := range parts {
		if p.More && len(p.Items) > 0 {
			if last := p.Items[len(p.Items)-1].ID; !cutting || last < cut {
				cut, cutting = last, true
			}
		}
	}
	var all []ListItem
	for _, p := range parts {
		for _, it := range p.Items {
			if !cutting || it.ID <= cut {
				all = append(all, it)
			}
		}
	}
	slices.SortFunc(all, func(a, b ListItem) int { return strings.Compare(a.ID, b.ID) })
	out := ListResponse{Entity: entityName, Items: []ListItem{}, Limit: lq.limit}
	used := 0
	for _, it := range all {
		size := len(it.ID) + len(it.State) + 96
		if len(out.Items) == lq.limit || (len(out.Items) > 0 && used+size > limits.ListPageBytes) {
			break
		}
		out.Items = append(out.Items, it)
		used += size
	}
	if cutting || len(out.Items) < len(all) {
		next := encodeListCursor(lq.prefix, out.Items[len(out.Items)-1].ID)
		out.Next = &next
	}
	return out
}
