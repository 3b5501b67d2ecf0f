package projection

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/eventfold/eventfold/codec"
	"github.com/eventfold/eventfold/entity"
	"github.com/eventfold/eventfold/projection/progress"
)

// Origin says where an input came from: the source event that released it
// (entity, partition, offset) and its place among that event's inputs.
// Inputs of one source partition are written in origin order.
type Origin struct {
	Entity    string `json:"e"`
	Partition int32  `json:"p"`
	Offset    int64  `json:"x"`
	Index     int    `json:"i"`
}

// source names the origin's source partition, the watermark's key.
func (o Origin) source() string { return o.Entity + "/" + strconv.Itoa(int(o.Partition)) }

// mark is a watermark: the highest origin (offset, index) applied.
type mark [2]int64

func (o Origin) mark() mark { return mark{o.Offset, int64(o.Index)} }

func (m mark) below(n mark) bool { return m[0] < n[0] || (m[0] == n[0] && m[1] < n[1]) }

// input is a repartition record's value: the input and its origin, or a
// progress marker (no input).
type input[I any] struct {
	Origin *Origin          `json:"o,omitempty"`
	Marker *progress.Marker `json:"m,omitempty"`
	In     I                `json:"in"`
}

// stored is a projection key's table state: the projection's state and
// the watermark of each source partition that wrote to the key.
type stored[S any] struct {
	State S
	Seen  map[string]mark
	// Progress is kept by a partition's marker key only (progress.Key).
	Progress progress.Progress
}

// storedJSON is stored as kept in the table.
type storedJSON[S any] struct {
	State    S                 `json:"state"`
	Seen     map[string]mark   `json:"seen"`
	Progress progress.Progress `json:"progress,omitempty"`
}

// MarshalJSON renders the projection's state alone: what the API shows.
func (s stored[S]) MarshalJSON() ([]byte, error) { return json.Marshal(s.State) }

type storedCodec[S any] struct{}

func (storedCodec[S]) Encode(s stored[S]) ([]byte, error) {
	return json.Marshal(storedJSON[S]{State: s.State, Seen: s.Seen, Progress: s.Progress})
}

func (storedCodec[S]) Decode(b []byte) (stored[S], error) {
	var j storedJSON[S]
	if err := json.Unmarshal(b, &j); err != nil {
		return stored[S]{}, &codec.DecodeError{Codec: "projection", Err: err}
	}
	return stored[S]{State: j.State, Seen: j.Seen, Progress: j.Progress}, nil
}

type inputCodec[I any] struct{}

func (inputCodec[I]) Encode(in input[I]) ([]byte, error) { return json.Marshal(in) }

func (inputCodec[I]) Decode(b []byte) (input[I], error) {
	var in input[I]
	if err := json.Unmarshal(b, &in); err != nil {
		return in, &codec.DecodeError{Codec: "projection", Err: err}
	}
	if m := in.Marker; m != nil {
		if in.Origin != nil || m.Entity == "" || m.Partition < 0 || m.Offset < 0 {
			return in, &codec.DecodeError{Codec: "projection", Err: errors.New("projection: a malformed progress marker")}
		}
		return in, nil
	}
	if in.Origin == nil || in.Origin.Entity == "" || in.Origin.Partition < 0 || in.Origin.Offset < 0 || in.Origin.Index < 0 {
		// Written by someone else than the re-keying: without an origin it
		// cannot be deduplicated.
		return in, &codec.DecodeError{Codec: "projection", Err: errors.New("projection: input without an origin")}
	}
	return in, nil
}

// TypeOf names an input "input" and a marker "marker" (the history's
// and metrics' type).
func (inputCodec[I]) TypeOf(in input[I]) string {
	if in.Marker != nil {
		return "marker"
	}
	return "input"
}

// Types lists the two.
func (inputCodec[I]) Types() []string { return []string{"input", "marker"} }

// dedupe wraps a projection's Evolve: an input whose origin is at or below
// its key's watermark for the origin's source partition is a copy of one
// applied before (docs/projections.md proves it) and is skipped.
func dedupe[S, I any](evolve func(S, I) (S, error)) func(stored[S], input[I]) (stored[S], error) {
	return func(s stored[S], in input[I]) (stored[S], error) {
		if mk := in.Marker; mk != nil {
			if s.Progress[mk.Source()] >= mk.Offset {
				return s, fmt.Errorf("%w: marker %s/%d is not ahead", entity.ErrSkip, mk.Source(), mk.Offset)
			}
			p := make(progress.Progress, len(s.Progress)+1)
			for k, v := range s.Progress {
				p[k] = v
			}
			p[mk.Source()] = mk.Offset
			s.Progress = p
			return s, nil
		}
		src, m := in.Origin.source(), in.Origin.mark()
		if w, ok := s.Seen[src]; ok && !w.below(m) {
			return s, fmt.Errorf("%w: %s/%d/%d is at or below the watermark %d/%d", entity.ErrSkip, src, m[0], m[1], w[0], w[1])
		}
		next, err := evolve(s.State, in.In)
		if err != nil {
			return s, err
		}
		seen := make(map[string]mark, len(s.Seen)+1)
		for k, v := range s.Seen {
			seen[k] = v
		}
		seen[src] = m
		return stored[S]{State: next, Seen: seen, Progress: s.Progress}, nil
	}
}
