package interactive

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/IBM/sarama"

	"github.com/eventfold/eventfold"
	"github.com/eventfold/eventfold/entity"
	"github.com/eventfold/eventfold/kafka"
	"github.com/eventfold/eventfold/table"
)

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
	if err := s.lookup(w, r); err != nil {
		writeError(w, err)
	}
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
func (s *Server) lookup(w http.ResponseWriter, r *http.Request) error {
	typ, entityName, id, err := s.target(r)
	if err != nil {
		return err
	}
	opts, err := parseReadOptions(r.URL.RawQuery)
	if err != nil {
		return err
	}
	ctx := r.Context()
	forwarded := r.Header.Get(HeaderHop) != ""
	if r.Header.Get(HeaderStandby) != "" {
		// Another node asks for our standby copy (its owner did not answer).
		return s.answerStandby(w, r, typ, entityName, id, opts)
	}
	if s.self.Role == RoleReplica && !forwarded && !opts.strong {
		// Read scaling: a replica answers from its copy when that is caught
		// up (or within the caller's max_lag), else asks the owner.
		limit := readOptions{maxLag: max(opts.maxLag, 0)}
		if e, err := s.store.GetStandby(ctx, entityName, id); err == nil && limit.accepts(e.Lag) {
			return s.writeEntry(w, typ, e)
		}
	}
	deadline := time.Now().Add(s.cfg.lookupDeadline)
	backoff := 20 * time.Millisecond
	var lastErr error
	for {
		e, err := s.ownerRead(ctx, entityName, id, opts, deadline)
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
			done, ferr := s.forwardToOwner(w, r, entityName, id)
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
			s.cfg.Logger.Error("local read failed", slog.String("entity", entityName), slog.String("id", short(id)), slog.Any("error", err))
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
		// One sentinel per outcome: lastErr is text, not a second %w.
		return fmt.Errorf("%w: %s %s: no owner answered within %v and consistency=strong refuses standbys: %v",
			eventfold.ErrStale, entityName, short(id), s.cfg.lookupDeadline, lastErr)
	}
	// No owner answered in time: a standby copy is better than nothing, as
	// long as the answer says what it is. Ours first, then the replicas'.
	if err := s.answerStandby(w, r, typ, entityName, id, opts); err == nil {
		return nil
	}
	if s.askReplicas(w, r) {
		return nil
	}
	return fmt.Errorf("%w: %s %s: no owner answered within %v and no standby copy within the allowed lag: %v",
		gaveUp(lastErr), entityName, short(id), s.cfg.lookupDeadline, lastErr)
}

// ownerRead reads as the owner, first waiting (until deadline) for the fold
// to pass minOffset when one is given.
func (s *Server) ownerRead(ctx context.Context, entityName, id string, opts readOptions, deadline time.Time) (table.Entry, error) {
	minOffset := opts.minOffset
	if c, ok := s.store.(Commander); ok && minOffset >= 0 {
		wctx, cancel := context.WithDeadline(ctx, deadline)
		err := c.WaitApplied(wctx, entityName, id, minOffset)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return table.Entry{}, fmt.Errorf("%w: offset %d of %s %s not applied within %v", ErrTimeout, minOffset, entityName, short(id), s.cfg.lookupDeadline)
		}
		if err != nil {
			return table.Entry{}, err
		}
	}
	if opts.pointInTime() {
		// A zero or pre-epoch as_of is a point in time like any other (before
		// every event: 404), never "not set".
		h, ok := s.store.(Historian)
		if !ok {
			return table.Entry{}, fmt.Errorf("%w: this node keeps no history", eventfold.ErrNotOwner)
		}
		return h.StateAt(ctx, entityName, id, opts.version, opts.asOf)
	}
	return s.store.Get(ctx, entityName, id)
}

// answerStandby answers from this node's standby copy if it is acceptable.
func (s *Server) answerStandby(w http.ResponseWriter, r *http.Request, typ *entity.Type, entityName, id string, opts readOptions) error {
	e, err := s.store.GetStandby(r.Context(), entityName, id)
	if err != nil {
		return err
	}
	if !opts.accepts(e.Lag) {
		return fmt.Errorf("%w: standby copy of %s %s is %d records behind (max_lag %d)", eventfold.ErrStale, entityName, short(id), e.Lag, opts.maxLag)
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
func (s *Server) forwardToOwner(w http.ResponseWriter, r *http.Request, entityName, id string) (done bool, err error) {
	return s.forwardToOwnerWith(w, r, entityName, id, nil)
}

// forwardToOwnerWith is forwardToOwner for a request whose body was read.
func (s *Server) forwardToOwnerWith(w http.ResponseWriter, r *http.Request, entityName, id string, body []byte) (done bool, err error) {
	n := s.store.Partitions(entityName)
	if n <= 0 {
		// A replica that has not found its tables yet knows no partition count.
		return false, fmt.Errorf("%w: partition count of %s not known yet", eventfold.ErrNotRecovered, entityName)
	}
	part := s.cfg.Partitioner.Partition(id, n)
	owner, ok := s.own.Snapshot().Owner(entityName, part)
	if !ok || owner.ID == s.self.ID {
		// Unknown, or the map still says us while the processor says no: it is moving.
		s.own.Kick()
		return false, fmt.Errorf("%w: no owner known for %s partition %d", eventfold.ErrUnavailable, entityName, part)
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
		if r.Method != http.MethodGet && !dialFailed(err) {
			// A command the owner may have received and carried out: a
			// second attempt could come after the entity forgot the key and
			// turn an applied command into a 409. The client retries it
			// with the same Idempotency-Key.
			return false, fmt.Errorf("%w: %s (%s) did not answer: %v", eventfold.ErrOutcomeUnknown, to.ID, to.URL, err)
		}
		return false, fmt.Errorf("%w: %s (%s) unreachable: %v", eventfold.ErrUnavailable, to.ID, to.URL, err)
	}
	defer resp.Body.Close()
	retry := resp.StatusCode == http.StatusMisdirectedRequest || resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusBadGateway
	if retry || (standby && resp.StatusCode != http.StatusOK) {
		// Only the retry decision needs the body: a small JSON error.
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		s.metrics.forwards.WithLabelValues("retry").Inc()
		if !standby {
			s.own.Kick()
		}
		return false, decodeError(resp.StatusCode, body)
	}
	// The answer is streamed through, never buffered whole. Its start is
	// read before anything is written, so an answer that breaks off early
	// (shorter than its Content-Length) is retried, not relayed.
	br := bufio.NewReaderSize(resp.Body, peekBytes)
	want := peekBytes
	if resp.ContentLength >= 0 && resp.ContentLength < peekBytes {
		want = int(resp.ContentLength)
	}
	if _, err := br.Peek(want); err != nil && !(resp.ContentLength < 0 && errors.Is(err, io.EOF)) {
		s.metrics.forwards.WithLabelValues("error").Inc()
		if r.Method != http.MethodGet {
			return false, fmt.Errorf("%w: the answer of %s (%s) broke off: %v", eventfold.ErrOutcomeUnknown, to.ID, to.URL, err)
		}
		return false, fmt.Errorf("%w: the answer of %s (%s) broke off: %v", ErrBadGateway, to.ID, to.URL, err)
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
	if resp.ContentLength >= 0 {
		// A client reading fewer bytes than this knows the answer is cut.
		w.Header().Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
	}
	w.WriteHeader(resp.StatusCode)
	if n, err := io.Copy(w, br); err != nil || (resp.ContentLength >= 0 && n != resp.ContentLength) {
		// Too late for another status: abort the connection, so the client
		// sees a broken answer instead of a complete-looking one.
		s.cfg.Logger.Warn("relaying an answer broke off", slog.String("from", to.ID), slog.Int64("bytes", n), slog.Any("error", err))
		panic(http.ErrAbortHandler)
	}
	return true, nil
}

// Bounds of a forwarded answer's handling: an error answer is read whole up
// to maxErrorBody (for the retry decision); a success is checked for its
// first peekBytes before it is relayed, then streamed.
const (
	maxErrorBody = 64 << 10
	peekBytes    = 32 << 10
)

// gaveUp is the sentinel of a request that no owner answered in time: 502
// when the last owner asked answered brokenly, else 503. It is the only
// sentinel of the final error (the last error is quoted as text).
func gaveUp(lastErr error) error {
	if errors.Is(lastErr, ErrBadGateway) {
		return ErrBadGateway
	}
	return eventfold.ErrUnavailable
}

func (s *Server) writeEntry(w http.ResponseWriter, typ *entity.Type, e table.Entry) error {
	state, err := typ.StateJSON(e.State)
	if err != nil {
		return fmt.Errorf("render state of %s %s: %w", e.Entity, short(e.Key), err)
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
	typ, entityName, id, err := s.target(r)
	if err != nil {
		return nil, err
	}
	if _, err := parseQuery(r.URL.RawQuery); err != nil {
		return nil, err
	}
	body, err := readBody(r, s.cfg.maxBody)
	if err != nil {
		return nil, err
	}
	evType, err := typ.CheckEvent(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", eventfold.ErrInvalid, shortErr(err))
	}
	if s.producer == nil {
		return nil, fmt.Errorf("%w: this node does not accept writes", eventfold.ErrUnavailable)
	}
	pos, err := s.producer.Send(r.Context(), kafka.Record{Topic: typ.Topic(), Key: id, Value: body})
	if errors.Is(err, sarama.ErrMessageSizeTooLarge) {
		// Permanent: retrying (503) could never succeed.
		return nil, fmt.Errorf("%w: %s refused the event as too large: %v", ErrTooLarge, typ.Topic(), err)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: append to %s: %v", eventfold.ErrUnavailable, typ.Topic(), err)
	}
	return AppendResponse{Entity: entityName, ID: id, Type: evType, Partition: pos.Partition, Offset: pos.Offset}, nil
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

// dialFailed reports whether a forward failed before its request could
// reach the other node (nothing was sent).
func dialFailed(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}
