package interactive

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/eventfold/eventfold/limits"
)

// PartitionsResponse is the body of GET /v1/cluster/partitions: the whole
// cluster's partition map, gathered by the node asked from every member's
// GET /v1/cluster (its own locally) and merged.
type PartitionsResponse struct {
	Self    string         `json:"self"` // the node that gathered it
	Members []MemberStatus `json:"members"`
	// Entities are the partition maps by entity type.
	Entities map[string]PartitionMap `json:"entities"`
	// Rebalances are the last changes of the owners this node saw, oldest
	// first (Ownership.Rebalances).
	Rebalances []Rebalance `json:"rebalances"`
	// RefreshedAt is when this node last read the ownership map.
	RefreshedAt time.Time `json:"refreshed_at"`
}

// MemberStatus is one member of the cluster and whether it answered.
type MemberStatus struct {
	ID   string `json:"id"`
	URL  string `json:"url"`
	Role Role   `json:"role"`
	OK   bool   `json:"ok"`
	// Error says why a member is not OK: it did not answer in time, or not
	// properly.
	Error string `json:"error,omitempty"`
}

// PartitionMap is one entity type's partitions across the cluster.
type PartitionMap struct {
	Partitions  int32           `json:"partitions"`
	Stable      bool            `json:"stable"` // the group is not rebalancing
	ByPartition []PartitionInfo `json:"by_partition"`
}

// PartitionInfo is who holds one partition.
type PartitionInfo struct {
	Partition int32  `json:"partition"`
	Owner     string `json:"owner"` // "" while no owner is known
	// Standbys are the other processors that report the partition
	// recovered (hot standby copies), sorted.
	Standbys []string `json:"standbys"`
	// Replicas are the replica nodes that report it recovered, sorted.
	Replicas []string `json:"replicas"`
	// Lag is the owner's records of the events topic past the last one its
	// fold was given; null when the owner did not answer or has not been
	// given a record of it since it was assigned (an idle partition).
	Lag *int64 `json:"lag"`
}

// maxClusterAnswer bounds a member's GET /v1/cluster answer.
const maxClusterAnswer = 8 << 20

// clusterPartitions handles GET /v1/cluster/partitions. Every member of
// the ownership map (processors and replicas) is asked at once, each for
// at most the forward timeout; one that does not answer is listed with
// ok false and its error, and the rest still answers.
func (s *Server) clusterPartitions(r *http.Request) (any, error) {
	if _, err := parseQuery(r.URL.RawQuery); err != nil {
		return nil, err
	}
	snap := s.own.Snapshot()
	self := s.self
	if self.Role == "" {
		self.Role = RoleProcessor
	}
	members := []Member{self}
	for _, group := range []struct {
		ms   map[string]Member
		role Role
	}{{snap.Members, RoleProcessor}, {snap.Replicas, RoleReplica}} {
		for id, m := range group.ms {
			if id != self.ID {
				m.Role = group.role
				members = append(members, m)
			}
		}
	}
	slices.SortFunc(members, func(a, b Member) int {
		return cmp.Or(cmp.Compare(roleOrder(a.Role), roleOrder(b.Role)), cmp.Compare(a.ID, b.ID))
	})

	answers := make([]*ClusterResponse, len(members))
	errs := make([]error, len(members))
	var wg sync.WaitGroup
	for i, m := range members {
		if m.ID == self.ID {
			local := s.clusterResponse()
			answers[i] = &local
			continue
		}
		wg.Go(func() { answers[i], errs[i] = s.askCluster(r.Context(), m) })
	}
	wg.Wait()

	out := PartitionsResponse{Self: self.ID, Entities: map[string]PartitionMap{}, Rebalances: s.own.Rebalances(), RefreshedAt: snap.Time}
	byID := map[string]*ClusterResponse{}
	for i, m := range members {
		ms := MemberStatus{ID: m.ID, URL: m.URL, Role: m.Role, OK: errs[i] == nil}
		if errs[i] != nil {
			ms.Error = limits.Truncate(errs[i].Error(), 512)
		} else {
			byID[m.ID] = answers[i]
		}
		out.Members = append(out.Members, ms)
	}
	for _, t := range s.b.Catalog.Types() {
		name := t.Name()
		n := s.b.Catalog.Partitions(name)
		if n == 0 {
			// A replica that has not found its tables yet: the others know.
			for _, a := range byID {
				n = max(n, a.Entities[name].Partitions)
			}
		}
		pm := PartitionMap{Partitions: n, Stable: snap.Stable[name], ByPartition: make([]PartitionInfo, n)}
		recovered := map[string]map[int32]bool{}
		for id, a := range byID {
			recovered[id] = map[int32]bool{}
			for _, p := range a.Entities[name].Recovered {
				recovered[id][p] = true
			}
		}
		for p := range n {
			info := PartitionInfo{Partition: p, Owner: snap.Owners[name][p], Standbys: []string{}, Replicas: []string{}}
			if a := byID[info.Owner]; a != nil {
				if lag, ok := a.Entities[name].Lag[p]; ok {
					info.Lag = &lag
				}
			}
			for _, m := range members {
				if m.ID == info.Owner || !recovered[m.ID][p] {
					continue
				}
				if m.Role == RoleReplica {
					info.Replicas = append(info.Replicas, m.ID)
				} else {
					info.Standbys = append(info.Standbys, m.ID)
				}
			}
			slices.Sort(info.Standbys)
			slices.Sort(info.Replicas)
			pm.ByPartition[p] = info
		}
		out.Entities[name] = pm
	}
	return out, nil
}

func roleOrder(r Role) int {
	if r == RoleReplica {
		return 1
	}
	return 0
}

// askCluster asks member m for its GET /v1/cluster, signed as a forward
// is (a client's token never leaves this node), within the forward
// timeout.
func (s *Server) askCluster(ctx context.Context, m Member) (*ClusterResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.forwardTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.URL+"/v1/cluster", nil)
	if err != nil {
		return nil, err
	}
	s.fromPeer(req)
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s unreachable: %w", m.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxClusterAnswer+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("reading the answer of %s: %w", m.URL, err)
	case len(body) > maxClusterAnswer:
		return nil, fmt.Errorf("the answer of %s is over %d bytes", m.URL, maxClusterAnswer)
	case resp.StatusCode != http.StatusOK:
		return nil, decodeError(resp.StatusCode, body)
	}
	var out ClusterResponse
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("the answer of %s does not decode: %w", m.URL, err)
	}
	if out.Self.ID != m.ID {
		// Another node now listens at the address the membership still has.
		return nil, fmt.Errorf("%s answered as %s", m.URL, short(out.Self.ID))
	}
	return &out, nil
}
