package interactive

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/eventfold/eventfold"
	"github.com/eventfold/eventfold/entity"
	"github.com/eventfold/eventfold/projection/progress"
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

// accepts reports whether a standby copy lag records behind may answer.
func (o readOptions) accepts(lag int64) bool {
	if o.strong {
		return false
	}
	return o.maxLag < 0 || (lag >= 0 && lag <= o.maxLag)
}

// readAnswers are the local read errors that answer the read (or send it
// elsewhere); any other is a failure of this node worth a log line.
var readAnswers = []error{eventfold.ErrNotFound, ErrTimeout, eventfold.ErrNotOwner, eventfold.ErrNotRecovered}

// getEntity answers a read: locally, by one forward to the owner, or from
// a standby copy once no owner answered within the lookup deadline.
func (s *Server) getEntity(r *http.Request) (any, error) {
	typ, entityName, id, err := s.target(r)
	if err != nil {
		return nil, err
	}
	opts, err := parseReadOptions(r.URL.RawQuery)
	if err != nil {
		return nil, err
	}
	if opts.minSource != nil && typ.Kind() != entity.KindProjection {
		return nil, fmt.Errorf("%w: min_source is for projections; an entity takes min_offset", eventfold.ErrInvalid)
	}
	ctx := r.Context()
	if r.Header.Get(HeaderStandby) != "" {
		// Another node asks for our standby copy (its owner did not answer).
		return s.standbyAnswer(ctx, typ, entityName, id, opts)
	}
	if s.self.Role == RoleReplica && r.Header.Get(HeaderHop) == "" && !opts.strong {
		// Read scaling: a replica answers from its copy when that is caught
		// up (or within the caller's max_lag), else asks the owner.
		limit := readOptions{maxLag: max(opts.maxLag, 0)}
		if e, err := s.b.Standby.GetStandby(ctx, entityName, id); err == nil && limit.accepts(e.Lag) {
			return s.entityAnswer(typ, e)
		}
	}
	deadline := time.Now().Add(s.cfg.lookupDeadline)
	return s.route(r, ownerRoute{
		entityName: entityName, id: id,
		local: func(ctx context.Context) (any, error) {
			e, err := s.ownerRead(ctx, entityName, id, opts, deadline)
			if err != nil {
				if !isAny(err, readAnswers) {
					s.cfg.Logger.Error("local read failed", slog.String("entity", entityName), slog.String("id", short(id)), slog.Any("error", err))
				}
				return nil, err
			}
			return s.entityAnswer(typ, e)
		},
		// A read's ErrUnavailable (a point-in-time read whose events could
		// not be fetched) has always been answered at once.
		transient: []error{eventfold.ErrNotRecovered},
		noOwner: func(lastErr error) (any, error) {
			if opts.strong {
				// One sentinel per outcome: lastErr is text, not a second %w.
				return nil, fmt.Errorf("%w: %s %s: no owner answered within %v and consistency=strong refuses standbys: %v",
					eventfold.ErrStale, entityName, short(id), s.cfg.lookupDeadline, lastErr)
			}
			// A standby copy is better than nothing, as long as the answer
			// says what it is. Ours first, then the replicas'.
			if v, err := s.standbyAnswer(ctx, typ, entityName, id, opts); err == nil {
				return v, nil
			}
			if v, ok := s.askReplicas(r); ok {
				return v, nil
			}
			return nil, fmt.Errorf("%w: %s %s: no owner answered within %v and no standby copy within the allowed lag: %v",
				gaveUp(lastErr), entityName, short(id), s.cfg.lookupDeadline, lastErr)
		},
	})
}

// ownerRead reads as the owner, first waiting (until deadline) for the fold
// to pass minOffset when one is given.
func (s *Server) ownerRead(ctx context.Context, entityName, id string, opts readOptions, deadline time.Time) (table.Entry, error) {
	if ms := opts.minSource; ms != nil {
		if err := s.waitSource(ctx, entityName, id, ms, deadline); err != nil {
			return table.Entry{}, err
		}
	}
	minOffset := opts.minOffset
	if c := s.b.Commander; c != nil && minOffset >= 0 {
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
		if s.b.Historian == nil {
			return table.Entry{}, errNoHistory
		}
		return s.b.Historian.StateAt(ctx, entityName, id, opts.version, opts.asOf)
	}
	if s.b.Owner == nil {
		return table.Entry{}, s.notOwner(entityName, id)
	}
	return s.b.Owner.Get(ctx, entityName, id)
}

// waitSource waits (until deadline) for the owner of id's partition of
// projection entityName to have folded every input of the source event
// ms: the partition's progress markers (package projection/progress) say
// so once they passed its offset.
func (s *Server) waitSource(ctx context.Context, entityName, id string, ms *sourcePosition, deadline time.Time) error {
	if s.b.Owner == nil {
		return s.notOwner(entityName, id)
	}
	n := s.b.Catalog.Partitions(entityName)
	if n <= 0 {
		return fmt.Errorf("%w: %s is starting", eventfold.ErrNotRecovered, entityName)
	}
	key := progress.Key(s.cfg.Partitioner, s.cfg.Partitioner.Partition(id, n), n)
	for {
		e, err := s.b.Owner.Get(ctx, entityName, key)
		switch {
		case err == nil:
			if p, err := progress.Read(e.State); err == nil && p.Passed(ms.entity, ms.partition, ms.offset) {
				return nil
			}
		case errors.Is(err, eventfold.ErrNotFound):
			// No marker in this partition yet.
		default:
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: %s:%d:%d not folded into %s %s within %v", ErrTimeout, short(ms.entity), ms.partition, ms.offset, entityName, short(id), s.cfg.lookupDeadline)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// notOwner is the owner read of a node that owns nothing (a replica),
// worded as a processor words a partition it does not own.
func (s *Server) notOwner(entityName, id string) error {
	n := s.b.Catalog.Partitions(entityName)
	if n == 0 {
		return fmt.Errorf("%w: %s table not found yet", eventfold.ErrNotRecovered, entityName)
	}
	return &table.NotOwnerError{Entity: entityName, Partition: s.cfg.Partitioner.Partition(id, n)}
}

// standbyAnswer answers from this node's standby copy if it is acceptable.
func (s *Server) standbyAnswer(ctx context.Context, typ *entity.Type, entityName, id string, opts readOptions) (any, error) {
	e, err := s.b.Standby.GetStandby(ctx, entityName, id)
	if err != nil {
		return nil, err
	}
	if !opts.accepts(e.Lag) {
		return nil, fmt.Errorf("%w: standby copy of %s %s is %d records behind (max_lag %d)", eventfold.ErrStale, entityName, short(id), e.Lag, opts.maxLag)
	}
	return s.entityAnswer(typ, e)
}

// entityAnswer is e as this node serves it, with where it comes from in
// the headers.
func (s *Server) entityAnswer(typ *entity.Type, e table.Entry) (any, error) {
	state, err := typ.StateJSON(e.State)
	if err != nil {
		return nil, fmt.Errorf("render state of %s %s: %w", e.Entity, short(e.Key), err)
	}
	a := s.servedBy(EntityResponse{
		ID: e.Key, Entity: e.Entity, Version: e.Version, Partition: e.Partition,
		Offset: e.Offset, UpdatedAt: e.UpdatedAt, State: state,
	})
	a.header.Set(HeaderPartition, strconv.Itoa(int(e.Partition)))
	if e.Stale {
		a.header.Set(HeaderStale, "true")
		if e.Lag >= 0 {
			a.header.Set(HeaderLag, strconv.FormatInt(e.Lag, 10))
		}
		s.metrics.stale.WithLabelValues("here").Inc()
	}
	return a, nil
}
