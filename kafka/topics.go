package kafka

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/IBM/sarama"

	"github.com/eventfold/eventfold"
)

// TopicKind says what a topic holds, which decides its configuration.
type TopicKind int

const (
	// Events: the event store. Kept forever (retention.ms=-1, retention.bytes=-1).
	Events TopicKind = iota
	// Table: a group table's changelog. cleanup.policy=compact.
	Table
	// DeadLetters: events that could not be applied. Kept forever.
	DeadLetters
	// History: sealed nodes of the per-entity history index. Kept forever.
	History
)

func (k TopicKind) String() string {
	return [...]string{"events", "table", "dead-letters", "history"}[k]
}

// TopicSpec describes a topic eventfold needs.
type TopicSpec struct {
	Name        string
	Kind        TopicKind
	Partitions  int32
	Replication int16
	// AdoptPartitions accepts an existing topic's partition count instead of
	// failing when it differs from Partitions (for events topics that
	// producers created; their tables then follow them).
	AdoptPartitions bool
	// Config entries added to (and overriding) the kind's defaults.
	Config map[string]string
}

// Configs returns the topic configuration eventfold creates spec with.
func (s TopicSpec) Configs() map[string]string {
	c := map[string]string{}
	switch s.Kind {
	case Events, DeadLetters, History:
		c["cleanup.policy"] = "delete"
		c["retention.ms"] = "-1"
		c["retention.bytes"] = "-1"
	case Table:
		c["cleanup.policy"] = "compact"
	}
	if s.Replication > 1 {
		c["min.insync.replicas"] = fmt.Sprint(min(int(s.Replication)-1, 2))
	}
	for k, v := range s.Config {
		c[k] = v
	}
	return c
}

// TopicState is what EnsureTopics found or did for one topic.
type TopicState struct {
	Spec       TopicSpec
	Created    bool
	Partitions int32
}

// EnsureTopics creates the topics in specs that do not exist and verifies
// those that do. A verification failure wraps eventfold.ErrTopicMismatch and
// names the topic, what is wrong and why it matters:
//   - an events or dead-letter topic whose retention is finite (history would be deleted);
//   - a table that is not compacted (recovery would replay every write);
//   - a partition count that differs from the spec (keys would move).
//
// It then waits until every partition has a leader, since a client started
// on a fresh topic on real Kafka fails with "not the leader".
//
// A spec with Replication 0 gets min(3, number of brokers).
func EnsureTopics(ctx context.Context, brokers []string, base *sarama.Config, specs []TopicSpec) ([]TopicState, error) {
	return ensureTopics(ctx, brokers, base, specs, true)
}

// VerifyTopics is EnsureTopics without creating anything: a missing topic is
// an error.
func VerifyTopics(ctx context.Context, brokers []string, base *sarama.Config, specs []TopicSpec) ([]TopicState, error) {
	return ensureTopics(ctx, brokers, base, specs, false)
}

func ensureTopics(ctx context.Context, brokers []string, base *sarama.Config, specs []TopicSpec, create bool) ([]TopicState, error) {
	client, err := sarama.NewClient(brokers, Copy(base, "eventfold-admin"))
	if err != nil {
		return nil, fmt.Errorf("kafka: connect to %s: %w", strings.Join(brokers, ","), err)
	}
	defer client.Close()
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		return nil, fmt.Errorf("kafka: admin client: %w", err)
	}
	// Closing the admin closes the client; the deferred client.Close is a no-op then.
	defer admin.Close()

	out := make([]TopicState, 0, len(specs))
	for _, spec := range specs {
		if spec.Replication <= 0 {
			spec.Replication = int16(min(3, len(client.Brokers())))
		}
		st, err := ensureTopic(admin, spec, create)
		// A topic another node created a moment ago can be unknown to the
		// broker we ask for a few hundred milliseconds (real Kafka
		// propagates metadata from the controller asynchronously).
		for try := 0; err != nil && transientTopicErr(err) && try < 50; try++ {
			select {
			case <-ctx.Done():
				return out, ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
			st, err = ensureTopic(admin, spec, create)
		}
		if err != nil {
			return out, err
		}
		out = append(out, st)
	}
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	if err := WaitLeaders(ctx, client, names); err != nil {
		return out, err
	}
	return out, nil
}

func transientTopicErr(err error) bool {
	return errors.Is(err, sarama.ErrUnknownTopicOrPartition) || errors.Is(err, sarama.ErrLeaderNotAvailable) ||
		errors.Is(err, sarama.ErrNotController) || errors.Is(err, sarama.ErrRequestTimedOut) || errors.Is(err, errMetadataLag)
}

// errMetadataLag: a topic another node just created is not described yet.
// On real Kafka with several nodes starting at once this outlasted the 2 s
// of the first wait; it is retried like the other transient errors.
var errMetadataLag = errors.New("metadata of a just-created topic not visible yet")

func ensureTopic(admin sarama.ClusterAdmin, spec TopicSpec, create bool) (TopicState, error) {
	st := TopicState{Spec: spec}
	md, err := describe(admin, spec.Name)
	if err != nil {
		return st, err
	}
	if md == nil && !create {
		return st, fmt.Errorf("%w: %s topic %s does not exist; create it (eventfold topics) or allow topic creation",
			eventfold.ErrTopicMismatch, spec.Kind, spec.Name)
	}
	if md == nil {
		detail := &sarama.TopicDetail{
			NumPartitions:     spec.Partitions,
			ReplicationFactor: spec.Replication,
			ConfigEntries:     map[string]*string{},
		}
		for k, v := range spec.Configs() {
			detail.ConfigEntries[k] = &v
		}
		err := admin.CreateTopic(spec.Name, detail, false)
		if err != nil && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
			return st, fmt.Errorf("kafka: create %s topic %s (%d partitions, replication %d): %w",
				spec.Kind, spec.Name, spec.Partitions, spec.Replication, err)
		}
		if err == nil {
			st.Created = true
			st.Partitions = spec.Partitions
			return st, nil
		}
		// Someone else created it meanwhile: verify theirs. Metadata of a
		// topic created a moment ago can lag behind on the broker we ask,
		// so give it a few tries before calling it missing.
		for try := 0; ; try++ {
			md, err = describe(admin, spec.Name)
			if err == nil && md != nil && len(md.Partitions) > 0 {
				break
			}
			if try == 20 {
				if err != nil {
					return st, fmt.Errorf("kafka: describe %s after concurrent create: %w", spec.Name, err)
				}
				return st, fmt.Errorf("kafka: %s topic %s exists (concurrent create) but %w", spec.Kind, spec.Name, errMetadataLag)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	st.Partitions = int32(len(md.Partitions))
	if !spec.AdoptPartitions && spec.Partitions > 0 && st.Partitions != spec.Partitions {
		return st, fmt.Errorf("%w: %s topic %s has %d partitions, want %d: keys would map to other partitions; "+
			"recreate it or configure %d partitions", eventfold.ErrTopicMismatch, spec.Kind, spec.Name, st.Partitions, spec.Partitions, st.Partitions)
	}
	return st, verifyConfig(admin, spec)
}

func describe(admin sarama.ClusterAdmin, name string) (*sarama.TopicMetadata, error) {
	mds, err := admin.DescribeTopics([]string{name})
	if err != nil {
		return nil, fmt.Errorf("kafka: describe topic %s: %w", name, err)
	}
	for _, md := range mds {
		if md.Name != name {
			continue
		}
		switch {
		case errors.Is(md.Err, sarama.ErrUnknownTopicOrPartition):
			return nil, nil
		case md.Err != sarama.ErrNoError:
			return nil, fmt.Errorf("kafka: describe topic %s: %w", name, md.Err)
		}
		return md, nil
	}
	return nil, nil
}

func verifyConfig(admin sarama.ClusterAdmin, spec TopicSpec) error {
	entries, err := admin.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: spec.Name})
	if err != nil {
		return fmt.Errorf("kafka: describe config of %s: %w", spec.Name, err)
	}
	got := map[string]string{}
	for _, e := range entries {
		got[e.Name] = e.Value
	}
	policy := got["cleanup.policy"]
	switch spec.Kind {
	case Table:
		if !strings.Contains(policy, "compact") {
			return fmt.Errorf("%w: table topic %s has cleanup.policy=%q, want compact: "+
				"the changelog would grow forever or lose keys; set cleanup.policy=compact", eventfold.ErrTopicMismatch, spec.Name, policy)
		}
	case Events, DeadLetters, History:
		if strings.Contains(policy, "compact") {
			return fmt.Errorf("%w: %s topic %s has cleanup.policy=%q: compaction would drop events; set cleanup.policy=delete with retention.ms=-1",
				eventfold.ErrTopicMismatch, spec.Kind, spec.Name, policy)
		}
		for _, k := range []string{"retention.ms", "retention.bytes"} {
			if v, ok := got[k]; ok && v != "-1" {
				return fmt.Errorf("%w: %s topic %s has %s=%s, want -1: Kafka would delete the event history; "+
					"set %s=-1 (kafka-configs --alter --add-config %s=-1)", eventfold.ErrTopicMismatch, spec.Kind, spec.Name, k, v, k, k)
			}
		}
	}
	return nil
}

// WaitLeaders polls until every partition of topics has a leader that
// answers ListOffsets for it.
func WaitLeaders(ctx context.Context, client sarama.Client, topics []string) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		pending := ""
		if err := client.RefreshMetadata(topics...); err != nil {
			pending = err.Error()
		} else {
		outer:
			for _, t := range topics {
				parts, err := client.Partitions(t)
				if err != nil || len(parts) == 0 {
					pending = fmt.Sprintf("%s: no partitions yet", t)
					break
				}
				for _, p := range parts {
					if _, err := client.Leader(t, p); err != nil {
						pending = fmt.Sprintf("%s/%d: %v", t, p, err)
						break outer
					}
					// A leader in the metadata is not yet a leader that
					// serves the partition: real Kafka spreads a new topic
					// to the brokers asynchronously, and goka's table setup
					// fails on the first ListOffsets error.
					if _, err := client.GetOffset(t, p, sarama.OffsetOldest); err != nil {
						pending = fmt.Sprintf("%s/%d: list offsets: %v", t, p, err)
						break outer
					}
				}
			}
		}
		if pending == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kafka: waiting for partition leaders (%s): %w", pending, ctx.Err())
		case <-tick.C:
		}
	}
}
