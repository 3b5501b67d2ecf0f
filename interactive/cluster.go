package interactive

import (
	"net/http"
	"time"

	"github.com/eventfold/eventfold/entity"
)

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
	// Kind is "entity" or "projection" (a projection's fold stage).
	Kind       string           `json:"kind"`
	Partitions int32            `json:"partitions"`
	Stable     bool             `json:"stable"`
	Owners     map[int32]string `json:"owners"`
	Assigned   []int32          `json:"assigned"`  // owned by this node
	Recovered  []int32          `json:"recovered"` // open and recovered on this node (owned or standby)
	// Lag is, for the partitions this node owns, the records of the events
	// topic past the last one its fold was given (absent for a partition
	// idle since it was assigned, and on a node that owns none).
	Lag map[int32]int64 `json:"lag,omitempty"`
}

func (s *Server) cluster(*http.Request) (any, error) { return s.clusterResponse(), nil }

// clusterResponse is this node's GET /v1/cluster answer.
func (s *Server) clusterResponse() ClusterResponse {
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
	for _, t := range s.b.Catalog.Types() {
		name := t.Name()
		var assigned []int32 // null on a node that owns nothing
		if s.b.Owner != nil {
			assigned = s.b.Owner.Assigned(name)
		}
		var lag map[int32]int64
		if s.b.Lag != nil {
			lag = s.b.Lag.Lags(name)
		}
		kind := "entity"
		if t.Kind() == entity.KindProjection {
			kind = "projection"
		}
		out.Entities[name] = EntityLayout{
			Kind:       kind,
			Partitions: s.b.Catalog.Partitions(name),
			Stable:     snap.Stable[name],
			Owners:     snap.Owners[name],
			Assigned:   assigned,
			Recovered:  sorted(s.b.Catalog.RecoveredPartitions(name)),
			Lag:        lag,
		}
	}
	return out
}
