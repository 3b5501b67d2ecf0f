package interactive

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/mux"

	"github.com/eventfold/eventfold"
	"github.com/eventfold/eventfold/kafka"
	"github.com/eventfold/eventfold/processor"
)

// maxIDLen bounds entity ids (Kafka keys); longer ids are rejected with 400.
const maxIDLen = 1024

// EntityResponse is the body of GET /v1/{entity}/{id}.
type EntityResponse struct {
	ID        string          `json:"id"`
	Entity    string          `json:"entity"`
	Version   uint64          `json:"version"`
	Partition int32           `json:"partition"`
	Offset    int64           `json:"offset"`
	UpdatedAt time.Time       `json:"updated_at"`
	State     json.RawMessage `json:"state"`
}

// AppendResponse is the body of POST /v1/{entity}/{id}/events.
type AppendResponse struct {
	Entity    string `json:"entity"`
	ID        string `json:"id"`
	Type      string `json:"type"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
}

func (s *Server) getEntity(w http.ResponseWriter, r *http.Request) {
	v := mux.Vars(r)
	entity, id := v["entity"], v["id"]
	if err := s.lookup(w, r, entity, id); err != nil {
		writeError(w, err)
	}
}

// readOptions are a read's consistency requirements.
type readOptions struct {
	strong    bool      // consistency=strong: only the owner may answer
	maxLag    int64     // max_lag=N: a standby may answer if at most N records behind; -1: any
	minOffset int64     // min_offset=N: the owner answers once its fold passed offset N; -1: none
	version   uint64    // version=N: the state after N applied events (history)
	asOf      time.Time // as_of=T: the state after the events up to T (history)
}

func parseReadOptions(r *http.Request) (readOptions, error) {
	q := r.URL.Query()
	o := readOptions{maxLag: -1, minOffset: -1}
	switch c := q.Get("consistency"); c {
	case "", "eventual":
	case "strong":
		o.strong = true
	default:
		return o, fmt.Errorf("%w: consistency=%q, want strong or eventual", eventfold.ErrInvalid, c)
	}
	if v := q.Get("max_lag"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return o, fmt.Errorf("%w: max_lag=%q, want a number >= 0", eventfold.ErrInvalid, v)
		}
		o.maxLag = n
	}
	if v := q.Get("min_offset"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return o, fmt.Errorf("%w: min_offset=%q, want an offset >= 0", eventfold.ErrInvalid, v)
		}
		// Read-your-writes is the owner's promise; a standby cannot make it.
		o.minOffset, o.strong = n, true
	}
	if v := q.Get("version"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n < 1 {
			return o, fmt.Errorf("%w: version=%q, want a version >= 1", eventfold.ErrInvalid, v)
		}
		o.version, o.strong = n, true
	}
	if v := q.Get("as_of"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return o, fmt.Errorf("%w: as_of=%q, want an RFC 3339 time", eventfold.ErrInvalid, v)
		}
		if o.version > 0 {
			return o, fmt.Errorf("%w: give version or as_of, not both", eventfold.ErrInvalid)
		}
		o.asOf, o.strong = t, true
	}
	return o, nil
}

// accepts reports whether a standby copy lag records behind may answer.
func (o readOptions) accepts(lag int64) bool {
	if o.strong {
		return false
	}
	return o.maxLag < 0 || (lag >= 0 && lag <= o.maxLag)
}

// lookup answers a read: locally, by one forward to the owner, or from a
// standby copy; it retries within the lookup deadline while ownership is
// moving. It returns an error only if nothing was written.
func (s *Server) lookup(w http.ResponseWriter, r *http.Request, entity, id string) error {
	typ, ok := s.store.Type(entity)
	if !ok {
		return fmt.Errorf("%w: unknown entity type %q", eventfold.ErrNotFound, entity)
	}
	if len(id) > maxIDLen {
		return fmt.Errorf("%w: id longer than %d bytes", eventfold.ErrInvalid, maxIDLen)
	}
	opts, err := parseReadOptions(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	forwarded := r.Header.Get(HeaderHop) != ""
	if r.Header.Get(HeaderStandby) != "" {
		// Another node asks for our standby copy (its owner did not answer).
		return s.answerStandby(w, r, typ, entity, id, opts)
	}
	if s.self.Role == RoleReplica && !forwarded && !opts.strong {
		// Read scaling: a replica answers from its copy when that is caught
		// up (or within the caller's max_lag), else asks the owner.
		limit := readOptions{maxLag: max(opts.maxLag, 0)}
		if e, err := s.store.GetStandby(ctx, entity, id); err == nil && limit.accepts(e.Lag) {
			return s.writeEntry(w, typ, e)
		}
	}
	deadline := time.Now().Add(s.cfg.lookupDeadline)
	backoff := 20 * time.Millisecond
	var lastErr error
	for {
		e, err := s.ownerRead(ctx, entity, id, opts, deadline)
		switch {
		case err == nil:
			return s.writeEntry(w, typ, e)
		case errors.Is(err, ErrTimeout):
			return err
		case errors.Is(err, eventfold.ErrNotFound):
			return err
		case errors.Is(err, eventfold.ErrNotOwner):
			if forwarded {
				// The forwarder's map is out of date; it retries, we do not forward twice.
				return err
			}
			done, ferr := s.forwardToOwner(w, r, entity, id)
			if done {
				return nil
			}
			lastErr = ferr
		case errors.Is(err, eventfold.ErrNotRecovered):
			if forwarded {
				return err
			}
			lastErr = err
		default:
			s.cfg.logger.Error("local read failed", slog.String("entity", entity), slog.String("id", id), slog.Any("error", err))
			return err
		}
		if time.Now().Add(backoff).After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 500*time.Millisecond)
	}
	if opts.strong {
		return fmt.Errorf("%w: %s %q: no owner answered within %v and consistency=strong refuses standbys: %w",
			eventfold.ErrStale, entity, id, s.cfg.lookupDeadline, lastErr)
	}
	// No owner answered in time: a standby copy is better than nothing, as
	// long as the answer says what it is. Ours first, then the replicas'.
	if err := s.answerStandby(w, r, typ, entity, id, opts); err == nil {
		return nil
	}
	if s.askReplicas(w, r) {
		return nil
	}
	return fmt.Errorf("%w: %s %q: no owner answered within %v and no standby copy within the allowed lag: %w",
		eventfold.ErrUnavailable, entity, id, s.cfg.lookupDeadline, lastErr)
}

// ownerRead reads as the owner, first waiting (until deadline) for the fold
// to pass minOffset when one is given.
func (s *Server) ownerRead(ctx context.Context, entity, id string, opts readOptions, deadline time.Time) (processor.Entry, error) {
	minOffset := opts.minOffset
	if c, ok := s.store.(Commander); ok && minOffset >= 0 {
		wctx, cancel := context.WithDeadline(ctx, deadline)
		err := c.WaitApplied(wctx, entity, id, minOffset)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return processor.Entry{}, fmt.Errorf("%w: offset %d of %s %q not applied within %v", ErrTimeout, minOffset, entity, id, s.cfg.lookupDeadline)
		}
		if err != nil {
			return processor.Entry{}, err
		}
	}
	if opts.version > 0 || !opts.asOf.IsZero() {
		h, ok := s.store.(Historian)
		if !ok {
			return processor.Entry{}, fmt.Errorf("%w: this node keeps no history", eventfold.ErrNotOwner)
		}
		return h.StateAt(ctx, entity, id, opts.version, opts.asOf)
	}
	return s.store.Get(ctx, entity, id)
}

// answerStandby answers from this node's standby copy if it is acceptable.
func (s *Server) answerStandby(w http.ResponseWriter, r *http.Request, typ *processor.Type, entity, id string, opts readOptions) error {
	e, err := s.store.GetStandby(r.Context(), entity, id)
	if err != nil {
		return err
	}
	if !opts.accepts(e.Lag) {
		return fmt.Errorf("%w: standby copy of %s %q is %d records behind (max_lag %d)", eventfold.ErrStale, entity, id, e.Lag, opts.maxLag)
	}
	return s.writeEntry(w, typ, e)
}

// askReplicas forwards the read, as a standby read, to each replica node in
// turn and relays the first answer. Replicas answer only from their copy
// (never forward again) and apply the same max_lag.
func (s *Server) askReplicas(w http.ResponseWriter, r *http.Request) bool {
	for _, m := range s.own.Snapshot().Replicas {
		if m.ID == s.self.ID {
			continue
		}
		if done, _ := s.forward(w, r, m, forwardOpts{standby: true}); done {
			return true
		}
	}
	return false
}

// forwardToOwner sends the read to the partition's owner and relays the
// answer. done is false when the caller should retry (no owner known,
// owner unreachable, owner not (yet) owning or recovered).
func (s *Server) forwardToOwner(w http.ResponseWriter, r *http.Request, entity, id string) (done bool, err error) {
	return s.forwardToOwnerWith(w, r, entity, id, nil)
}

// forwardToOwnerWith is forwardToOwner for a request whose body was read.
func (s *Server) forwardToOwnerWith(w http.ResponseWriter, r *http.Request, entity, id string, body []byte) (done bool, err error) {
	n := s.store.Partitions(entity)
	part := s.cfg.partitioner.Partition(id, n)
	owner, ok := s.own.Snapshot().Owner(entity, part)
	if !ok || owner.ID == s.self.ID {
		// Unknown, or the map still says us while the processor says no: it is moving.
		s.own.Kick()
		return false, fmt.Errorf("%w: no owner known for %s partition %d", eventfold.ErrUnavailable, entity, part)
	}
	return s.forward(w, r, owner, forwardOpts{body: body})
}

type forwardOpts struct {
	standby bool   // ask for the target's standby copy
	body    []byte // the request body, already read
}

// forward sends the read to member once (hop header set) and relays a
// definitive answer; done is false for answers worth retrying elsewhere.
func (s *Server) forward(w http.ResponseWriter, r *http.Request, to Member, o forwardOpts) (done bool, err error) {
	standby := o.standby
	timeout := s.cfg.forwardTimeout
	var reqBody io.Reader
	if r.Method != http.MethodGet {
		reqBody = bytes.NewReader(o.body)
	}
	if r.Method != http.MethodGet || r.URL.Query().Has("min_offset") {
		// The owner waits for its fold (a command's events, min_offset).
		timeout = max(timeout, s.cfg.lookupDeadline+time.Second)
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, r.Method, to.URL+r.URL.RequestURI(), reqBody)
	if err != nil {
		return false, err
	}
	req.Header.Set(HeaderHop, s.self.ID)
	if standby {
		req.Header.Set(HeaderStandby, "1")
	}
	for _, h := range []string{"Content-Type", "If-Match", HeaderIdempotencyKey} {
		if v := r.Header.Get(h); v != "" {
			req.Header.Set(h, v)
		}
	}
	if s.cfg.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.cfg.token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		s.metrics.forwards.WithLabelValues("error").Inc()
		s.own.Kick()
		return false, fmt.Errorf("%w: %s (%s) unreachable: %v", eventfold.ErrUnavailable, to.ID, to.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		s.metrics.forwards.WithLabelValues("error").Inc()
		return false, fmt.Errorf("%w: reading answer of %s: %v", eventfold.ErrUnavailable, to.ID, err)
	}
	retry := resp.StatusCode == http.StatusMisdirectedRequest || resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusBadGateway
	if retry || (standby && resp.StatusCode != http.StatusOK) {
		s.metrics.forwards.WithLabelValues("retry").Inc()
		if !standby {
			s.own.Kick()
		}
		return false, decodeError(resp.StatusCode, body)
	}
	s.metrics.forwards.WithLabelValues("ok").Inc()
	if resp.Header.Get(HeaderStale) != "" {
		s.metrics.stale.WithLabelValues("relayed").Inc()
	}
	for _, h := range []string{"Content-Type", HeaderServedBy, HeaderPartition, HeaderStale, HeaderLag} {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, bytes.NewReader(body))
	return true, nil
}

func (s *Server) writeEntry(w http.ResponseWriter, typ *processor.Type, e processor.Entry) error {
	state, err := typ.StateJSON(e.State)
	if err != nil {
		return fmt.Errorf("render state of %s %q: %w", e.Entity, e.Key, err)
	}
	h := w.Header()
	h.Set(HeaderServedBy, s.self.ID)
	h.Set(HeaderPartition, strconv.Itoa(int(e.Partition)))
	if e.Stale {
		h.Set(HeaderStale, "true")
		if e.Lag >= 0 {
			h.Set(HeaderLag, strconv.FormatInt(e.Lag, 10))
		}
		s.metrics.stale.WithLabelValues("here").Inc()
	}
	writeJSON(w, http.StatusOK, EntityResponse{
		ID: e.Key, Entity: e.Entity, Version: e.Version, Partition: e.Partition,
		Offset: e.Offset, UpdatedAt: e.UpdatedAt, State: state,
	})
	return nil
}

func (s *Server) appendEvent(r *http.Request) (any, error) {
	v := mux.Vars(r)
	entity, id := v["entity"], v["id"]
	typ, ok := s.store.Type(entity)
	if !ok {
		return nil, fmt.Errorf("%w: unknown entity type %q", eventfold.ErrNotFound, entity)
	}
	if len(id) > maxIDLen {
		return nil, fmt.Errorf("%w: id longer than %d bytes", eventfold.ErrInvalid, maxIDLen)
	}
	body, err := readBody(r, s.cfg.maxBody)
	if err != nil {
		return nil, err
	}
	evType, err := typ.CheckEvent(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", eventfold.ErrInvalid, err)
	}
	if s.producer == nil {
		return nil, fmt.Errorf("%w: this node does not accept writes", eventfold.ErrUnavailable)
	}
	pos, err := s.producer.Send(r.Context(), kafka.Record{Topic: typ.Topic(), Key: id, Value: body})
	if err != nil {
		return nil, fmt.Errorf("%w: append to %s: %v", eventfold.ErrUnavailable, typ.Topic(), err)
	}
	return AppendResponse{Entity: entity, ID: id, Type: evType, Partition: pos.Partition, Offset: pos.Offset}, nil
}

// ClusterResponse is the body of GET /v1/cluster.
type ClusterResponse struct {
	Self        Member                  `json:"self"`
	Members     []Member                `json:"members"`
	Replicas    []Member                `json:"replicas"`
	Entities    map[string]EntityLayout `json:"entities"`
	Revision    int64                   `json:"revision"`
	RefreshedAt time.Time               `json:"refreshed_at"`
}

// EntityLayout is one entity type's partition map.
type EntityLayout struct {
	Partitions int32            `json:"partitions"`
	Stable     bool             `json:"stable"`
	Owners     map[int32]string `json:"owners"`
	Assigned   []int32          `json:"assigned"`  // owned by this node
	Recovered  []int32          `json:"recovered"` // open and recovered on this node (owned or standby)
}

func (s *Server) cluster(*http.Request) (any, error) {
	snap := s.own.Snapshot()
	out := ClusterResponse{Self: s.self, Entities: map[string]EntityLayout{}, Revision: snap.Revision, RefreshedAt: snap.Time}
	for _, m := range snap.Members {
		out.Members = append(out.Members, m)
	}
	sortMembers(out.Members)
	for _, m := range snap.Replicas {
		out.Replicas = append(out.Replicas, m)
	}
	sortMembers(out.Replicas)
	for _, t := range s.store.Types() {
		name := t.Name()
		out.Entities[name] = EntityLayout{
			Partitions: s.store.Partitions(name),
			Stable:     snap.Stable[name],
			Owners:     snap.Owners[name],
			Assigned:   s.store.Assigned(name),
			Recovered:  sorted(s.store.RecoveredPartitions(name)),
		}
	}
	return out, nil
}
