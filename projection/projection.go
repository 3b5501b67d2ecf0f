package projection

import (
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/eventfold/eventfold"
	"github.com/eventfold/eventfold/codec"
	"github.com/eventfold/eventfold/entity"
	"github.com/eventfold/eventfold/subscriber"
)

// Projection declares a projection: its sources, and the pure fold of its
// state S from its inputs I. States and inputs are JSON (encoding/json).
type Projection[S, I any] struct {
	// Name identifies it in URLs, topic and group names: entity.NameRE,
	// distinct from every entity type's name. Required.
	Name string
	// Sources map source events to inputs (From). At least one; each
	// entity type at most once.
	Sources []Source[I]
	// Evolve applies one input to a key's state; the first input of a key
	// sees the zero S. An error dead-letters the input (the projection's
	// dead-letter topic) and leaves the state as it was. Required.
	Evolve func(state S, in I) (S, error)
}

// Source is one entity type a projection follows and how its events map
// to the projection's inputs; build it with From.
type Source[I any] struct {
	entity  string
	mapping func(d subscriber.Delivery) ([]Out[I], error)
}

// Change is one source event as the projection's map sees it.
type Change[S, E any] struct {
	Entity string
	ID     string // the source entity's id
	Event  E
	// Applied says whether the entity's fold applied the event; if not,
	// Before and After are equal.
	Applied bool
	// Before and After are the source entity's applied state before and
	// right after the event; Existed and Exists say whether it had applied
	// any event then (else the zero S).
	Before, After   S
	Existed, Exists bool
	Partition       int32
	Offset          int64
	Timestamp       time.Time
}

// Out is one input for the projection key Key.
type Out[I any] struct {
	Key   string
	Input I
}

// To is the one output of a change: in for key.
func To[I any](key string, in I) []Out[I] { return []Out[I]{{Key: key, Input: in}} }

// From makes a source of e's events: m maps each event (applied or not)
// to the projection's inputs, nil for none. m must be deterministic: a
// replay calls it again and must get the same outputs. Events that do
// not decode (the entity's dead letters) are not passed to m.
func From[ES, EE, I any](e entity.Entity[ES, EE], m func(Change[ES, EE]) []Out[I]) Source[I] {
	var sc codec.Codec[ES] = e.State
	if sc == nil {
		sc = codec.JSON[ES]{}
	}
	return Source[I]{entity: e.Name, mapping: func(d subscriber.Delivery) (out []Out[I], err error) {
		ev, err := e.Events.Decode(d.Event)
		if err != nil {
			return nil, nil // not an event of e: the entity's own dead letter says why
		}
		c := Change[ES, EE]{Entity: d.Entity, ID: d.ID, Event: ev, Applied: d.Applied,
			Partition: d.Partition, Offset: d.Offset, Timestamp: d.Timestamp}
		before, existed, after, exists := d.RawStates()
		c.Existed, c.Exists = existed, exists
		if existed {
			if c.Before, err = sc.Decode(before); err != nil {
				return nil, fmt.Errorf("state before %s: %w", d.EventID, err)
			}
		}
		if exists {
			if c.After, err = sc.Decode(after); err != nil {
				return nil, fmt.Errorf("state after %s: %w", d.EventID, err)
			}
		}
		defer func() {
			if r := recover(); r != nil {
				out, err = nil, fmt.Errorf("the map of %s panicked: %v\n%s", d.EventID, r, debug.Stack())
			}
		}()
		return m(c), nil
	}}
}

// Definition is a projection ready for a node (Projection is the one
// implementation).
type Definition interface {
	spec() (*spec, error)
}

// spec is a projection with its Go types erased.
type spec struct {
	name    string
	table   *entity.Type // the fold stage: an entity type of kind projection
	sources map[string]func(subscriber.Delivery) ([]any, []string, error)
	order   []string // source entity names, as declared
}

func (p Projection[S, I]) spec() (*spec, error) {
	if !entity.NameRE.MatchString(p.Name) {
		return nil, fmt.Errorf("projection: name %q must match %s: %w", p.Name, entity.NameRE, eventfold.ErrInvalid)
	}
	var errs []error
	if p.Evolve == nil {
		errs = append(errs, errors.New("Evolve is required"))
	}
	if len(p.Sources) == 0 {
		errs = append(errs, errors.New("no sources"))
	}
	sp := &spec{name: p.Name, sources: map[string]func(subscriber.Delivery) ([]any, []string, error){}}
	for _, src := range p.Sources {
		if src.mapping == nil {
			errs = append(errs, errors.New("a source not made by From"))
			continue
		}
		if _, dup := sp.sources[src.entity]; dup {
			errs = append(errs, fmt.Errorf("source %s given twice", src.entity))
			continue
		}
		m := src.mapping
		sp.sources[src.entity] = func(d subscriber.Delivery) ([]any, []string, error) {
			outs, err := m(d)
			ins, keys := make([]any, len(outs)), make([]string, len(outs))
			for i, o := range outs {
				ins[i], keys[i] = o.Input, o.Key
			}
			return ins, keys, err
		}
		sp.order = append(sp.order, src.entity)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("projection %s: %w: %w", p.Name, eventfold.ErrInvalid, err)
	}
	t, err := entity.Entity[stored[S], input[I]]{
		Name:   p.Name,
		Topic:  p.Name + "-repartition", // the processor names it: cluster.Settings.RepartitionTopic
		Events: inputCodec[I]{},
		State:  storedCodec[S]{},
		Evolve: dedupe(p.Evolve),
	}.Type()
	if err != nil {
		return nil, fmt.Errorf("projection %s: %w", p.Name, err)
	}
	sp.table = t.AsProjection()
	return sp, nil
}
