package interactive

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"

	"github.com/eventfold/eventfold/kafka"
)

// Ownership is the map from (entity, partition) to the member that owns it,
// read from the consumer groups. It refreshes on a poll and on demand.
type Ownership struct {
	brokers  []string
	sarama   *sarama.Config
	groups   map[string]string // entity -> consumer group
	replicas string            // the replica group, "" for none
	interval time.Duration
	logger   *slog.Logger
	secret   []byte // nil: members unsigned

	snap       atomic.Pointer[Snapshot]
	rebalances atomic.Pointer[[]Rebalance] // the last maxRebalances, oldest first
	kick       chan struct{}
	changes    atomic.Int64
	errors     atomic.Int64

	mu     sync.Mutex // serialises refreshes and owns admin
	admin  sarama.ClusterAdmin
	closed bool
}

// Snapshot is the ownership map at one moment.
type Snapshot struct {
	Time     time.Time
	Members  map[string]Member           // by member id
	Replicas map[string]Member           // replica nodes (standbys), by member id
	Owners   map[string]map[int32]string // entity -> partition -> member id
	Stable   map[string]bool             // entity -> group state is Stable
	Revision int64                       // increments when owners change
}

// Owner returns the member owning partition p of entity.
func (s *Snapshot) Owner(entityName string, p int32) (Member, bool) {
	if s == nil {
		return Member{}, false
	}
	id, ok := s.Owners[entityName][p]
	if !ok {
		return Member{}, false
	}
	m, ok := s.Members[id]
	return m, ok
}

// NewOwnership watches the groups (entity -> group name) and, if
// replicaGroup is not empty, the replica nodes in that group.
//
// With WithMemberSecret only members whose data is signed with the cluster
// secret (Member.Sign) are in the map: a client that joins a group with
// forged member data may be assigned partitions, but no request is ever
// forwarded to it.
func NewOwnership(brokers []string, sc *sarama.Config, groups map[string]string, replicaGroup string, interval time.Duration, logger *slog.Logger, opts ...OwnershipOption) *Ownership {
	if interval <= 0 {
		interval = time.Second
	}
	o := &Ownership{
		brokers: brokers, sarama: kafka.Copy(sc, "eventfold-ownership"), groups: groups, replicas: replicaGroup,
		interval: interval, logger: logger, kick: make(chan struct{}, 1),
	}
	for _, opt := range opts {
		opt.apply(o)
	}
	o.snap.Store(&Snapshot{Members: map[string]Member{}, Replicas: map[string]Member{}, Owners: map[string]map[int32]string{}, Stable: map[string]bool{}})
	return o
}

// OwnershipOption configures an Ownership (the same shape as Option).
type OwnershipOption interface{ apply(*Ownership) }

type ownershipOptionFunc func(*Ownership)

func (f ownershipOptionFunc) apply(o *Ownership) { f(o) }

// WithMemberSecret accepts only members signed with secret.
func WithMemberSecret(secret []byte) OwnershipOption {
	return ownershipOptionFunc(func(o *Ownership) { o.secret = secret })
}

// Snapshot returns the latest map. It never returns nil.
func (o *Ownership) Snapshot() *Snapshot { return o.snap.Load() }

// Changes counts how often the owner of some partition changed.
func (o *Ownership) Changes() int64 { return o.changes.Load() }

// RefreshErrors counts the refreshes of Run that failed (the map kept its
// last state meanwhile).
func (o *Ownership) RefreshErrors() int64 { return o.errors.Load() }

// Kick asks for a refresh soon (after a rebalance, or when a forward found
// the map wrong). It never blocks.
func (o *Ownership) Kick() {
	select {
	case o.kick <- struct{}{}:
	default:
	}
}

// Run refreshes the map until ctx ends.
func (o *Ownership) Run(ctx context.Context) error {
	defer o.close()
	t := time.NewTicker(o.interval)
	defer t.Stop()
	failing := 0 // refreshes failed in a row
	for {
		switch err := o.Refresh(ctx); {
		case err != nil && ctx.Err() == nil:
			o.errors.Add(1)
			// One warning when the map starts to age, then one a minute or so:
			// forwards go by a map that no longer changes.
			if failing%60 == 0 {
				o.logger.Warn("ownership refresh failed: forwarding by the last map read", slog.Int("in_a_row", failing+1), slog.Any("error", err))
			}
			failing++
		case err == nil && failing > 0:
			o.logger.Info("ownership refresh works again", slog.Int("failed_in_a_row", failing))
			failing = 0
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-o.kick:
		}
	}
}

func (o *Ownership) close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.closed = true
	if o.admin != nil {
		o.admin.Close()
		o.admin = nil
	}
}

// Refresh reads the groups now.
func (o *Ownership) Refresh(ctx context.Context) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil
	}
	if o.admin == nil {
		admin, err := sarama.NewClusterAdmin(o.brokers, o.sarama)
		if err != nil {
			return fmt.Errorf("interactive: admin client: %w", err)
		}
		o.admin = admin
	}
	names := make([]string, 0, len(o.groups))
	entityOf := map[string]string{}
	for e, g := range o.groups {
		names = append(names, g)
		entityOf[g] = e
	}
	if o.replicas != "" {
		names = append(names, o.replicas)
	}
	slices.Sort(names)
	descs, err := o.admin.DescribeConsumerGroups(names)
	if err != nil {
		// The coordinator may have moved: start over with a new client next time.
		o.admin.Close()
		o.admin = nil
		return fmt.Errorf("interactive: describe groups: %w", err)
	}
	// A group whose coordinator moved answers NOT_COORDINATOR inside a
	// successful call; the admin client keeps asking the broker it cached,
	// so it is replaced, and the groups it failed keep their last map.
	var groupErr error
	for _, d := range descs {
		if d.Err != sarama.ErrNoError && groupErr == nil {
			groupErr = fmt.Errorf("interactive: describe group %s: %w", d.GroupId, d.Err)
		}
	}
	if groupErr != nil {
		o.admin.Close()
		o.admin = nil
	}
	prev := o.snap.Load()
	next := &Snapshot{
		Time: time.Now(), Members: map[string]Member{}, Replicas: map[string]Member{}, Owners: map[string]map[int32]string{},
		Stable: map[string]bool{}, Revision: prev.Revision,
	}
	for _, d := range descs {
		if d.GroupId == o.replicas && o.replicas != "" {
			if d.Err != sarama.ErrNoError {
				maps.Copy(next.Replicas, prev.Replicas)
				continue
			}
			for _, md := range d.Members {
				if m, _, err := o.decodeGroupMember(md); err == nil {
					next.Replicas[m.ID] = m
				}
			}
			continue
		}
		entityName := entityOf[d.GroupId]
		if entityName == "" {
			continue
		}
		stable := strings.EqualFold(d.State, "Stable")
		next.Stable[entityName] = stable
		if !stable {
			// Mid-rebalance assignments are partial: keep the last stable
			// view, whose owners either still answer or are retried.
			next.Owners[entityName] = prev.Owners[entityName]
			for _, id := range prev.Owners[entityName] {
				if m, ok := prev.Members[id]; ok {
					next.Members[id] = m
				}
			}
			continue
		}
		owners := map[int32]string{}
		for _, md := range d.Members {
			m, asg, err := o.decodeGroupMember(md)
			if err != nil {
				continue
			}
			next.Members[m.ID] = m
			if asg == nil {
				continue
			}
			for _, parts := range asg.Topics {
				for _, p := range parts {
					owners[p] = m.ID
				}
			}
		}
		next.Owners[entityName] = owners
	}
	if !sameOwners(prev.Owners, next.Owners) {
		next.Revision++
		o.changes.Add(1)
		if r := rebalance(prev, next); r.Moved > 0 {
			// (An entity type whose group was first seen unstable changes
			// the map's shape, not an owner.)
			o.remember(r)
		}
	}
	o.snap.Store(next)
	return groupErr
}

// maxRebalances is how many ownership changes Rebalances keeps.
const maxRebalances = 20

// Rebalance is one change of the partition owners, as this node saw it.
type Rebalance struct {
	At       time.Time `json:"at"`       // when this node read the new map
	Revision int64     `json:"revision"` // the Snapshot's revision after it
	Moved    int       `json:"moved"`    // partitions (of all entity types) whose owner changed
	Members  []string  `json:"members"`  // the processor members after it, sorted
}

// Rebalances returns the last changes of the partition owners this node
// saw (at most 20), oldest first. The first one of a node is the map as it
// first read it.
func (o *Ownership) Rebalances() []Rebalance {
	if r := o.rebalances.Load(); r != nil {
		return slices.Clone(*r)
	}
	return []Rebalance{}
}

// remember adds r to the ring. Refreshes are serialised (o.mu).
func (o *Ownership) remember(r Rebalance) {
	var out []Rebalance
	if prev := o.rebalances.Load(); prev != nil {
		out = *prev
	}
	if len(out) >= maxRebalances {
		out = out[len(out)-maxRebalances+1:]
	}
	out = append(slices.Clone(out), r)
	o.rebalances.Store(&out)
}

// rebalance describes the change from prev to next.
func rebalance(prev, next *Snapshot) Rebalance {
	r := Rebalance{At: next.Time, Revision: next.Revision, Members: make([]string, 0, len(next.Members))}
	for e, owners := range next.Owners {
		for p, id := range owners {
			if prev.Owners[e][p] != id {
				r.Moved++
			}
		}
	}
	for e, owners := range prev.Owners {
		for p := range owners {
			if _, ok := next.Owners[e][p]; !ok {
				r.Moved++
			}
		}
	}
	for id := range next.Members {
		r.Members = append(r.Members, id)
	}
	slices.Sort(r.Members)
	return r
}

// decodeGroupMember reads what another member of a group published: its
// eventfold member data and its assignment (nil if it has none or it does
// not decode). The bytes come from whoever joined the group: a member that
// does not decode is skipped, and a decoder that panics on them is an error
// here, never a crash of the refresh.
func (o *Ownership) decodeGroupMember(md *sarama.GroupMemberDescription) (m Member, asg *sarama.ConsumerGroupMemberAssignment, err error) {
	defer func() {
		if v := recover(); v != nil {
			m, asg, err = Member{}, nil, fmt.Errorf("interactive: member metadata: decoder panicked: %v", v)
		}
	}()
	if md == nil {
		return m, nil, fmt.Errorf("interactive: no member description")
	}
	meta, err := md.GetMemberMetadata()
	if err != nil || meta == nil {
		return m, nil, fmt.Errorf("interactive: member metadata: %v", err)
	}
	if m, err = VerifyMember(meta.UserData, o.secret); err != nil {
		return m, nil, err
	}
	if a, err := md.GetMemberAssignment(); err == nil {
		asg = a
	}
	return m, asg, nil
}

func sameOwners(a, b map[string]map[int32]string) bool {
	if len(a) != len(b) {
		return false
	}
	for e, pa := range a {
		pb, ok := b[e]
		if !ok || len(pa) != len(pb) {
			return false
		}
		for p, id := range pa {
			if pb[p] != id {
				return false
			}
		}
	}
	return true
}
