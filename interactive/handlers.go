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
	ctx := r.Context()
	forwarded := r.Header.Get(HeaderHop) != ""
	deadline := time.Now().Add(s.cfg.lookupDeadline)
	backoff := 20 * time.Millisecond
	var lastErr error
	for {
		e, err := s.store.Get(ctx, entity, id)
		switch {
		case err == nil:
			return s.writeEntry(w, typ, e, false)
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
	// No owner answered in time: a hot-standby copy is better than nothing,
	// as long as the answer says what it is.
	if e, err := s.store.GetStandby(ctx, entity, id); err == nil {
		s.metrics.stale.Inc()
		return s.writeEntry(w, typ, e, true)
	}
	return fmt.Errorf("%w: %s %q: no owner answered within %v: %w", eventfold.ErrUnavailable, entity, id, s.cfg.lookupDeadline, lastErr)
}

// forwardToOwner sends the read to the partition's owner and relays the
// answer. done is false when the caller should retry (no owner known,
// owner unreachable, owner not (yet) owning or recovered).
func (s *Server) forwardToOwner(w http.ResponseWriter, r *http.Request, entity, id string) (done bool, err error) {
	n := s.store.Partitions(entity)
	part := s.cfg.partitioner.Partition(id, n)
	owner, ok := s.own.Snapshot().Owner(entity, part)
	if !ok || owner.ID == s.self.ID {
		// Unknown, or the map still says us while the processor says no: it is moving.
		s.own.Kick()
		return false, fmt.Errorf("%w: no owner known for %s partition %d", eventfold.ErrUnavailable, entity, part)
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.forwardTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, owner.URL+r.URL.RequestURI(), nil)
	if err != nil {
		return false, err
	}
	req.Header.Set(HeaderHop, s.self.ID)
	if s.cfg.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.cfg.token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		s.metrics.forwards.WithLabelValues("error").Inc()
		s.own.Kick()
		return false, fmt.Errorf("%w: owner %s (%s) unreachable: %v", eventfold.ErrUnavailable, owner.ID, owner.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		s.metrics.forwards.WithLabelValues("error").Inc()
		return false, fmt.Errorf("%w: reading answer of %s: %v", eventfold.ErrUnavailable, owner.ID, err)
	}
	switch {
	case resp.StatusCode == http.StatusMisdirectedRequest || resp.StatusCode >= 500:
		s.metrics.forwards.WithLabelValues("retry").Inc()
		s.own.Kick()
		return false, decodeError(resp.StatusCode, body)
	}
	s.metrics.forwards.WithLabelValues("ok").Inc()
	for _, h := range []string{"Content-Type", HeaderServedBy, HeaderPartition, HeaderStale, HeaderLag} {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, bytes.NewReader(body))
	return true, nil
}

func (s *Server) writeEntry(w http.ResponseWriter, typ *processor.Type, e processor.Entry, stale bool) error {
	state, err := typ.StateJSON(e.State)
	if err != nil {
		return fmt.Errorf("render state of %s %q: %w", e.Entity, e.Key, err)
	}
	h := w.Header()
	h.Set(HeaderServedBy, s.self.ID)
	h.Set(HeaderPartition, strconv.Itoa(int(e.Partition)))
	if stale {
		h.Set(HeaderStale, "true")
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
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, s.cfg.maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, fmt.Errorf("%w: limit is %d bytes", ErrTooLarge, s.cfg.maxBody)
		}
		return nil, fmt.Errorf("%w: reading body: %v", eventfold.ErrInvalid, err)
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
