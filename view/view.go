package view

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	gokacodec "github.com/lovoo/goka/codec"

	"github.com/eventfold/eventfold"
	"github.com/eventfold/eventfold/cluster"
	"github.com/eventfold/eventfold/entity"
	"github.com/eventfold/eventfold/internal/run"
	"github.com/eventfold/eventfold/kafka"
	"github.com/eventfold/eventfold/table"
	"github.com/eventfold/eventfold/table/store"
)

// Option configures a View.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	cluster.Settings
	pollInterval time.Duration
}

// WithSettings sets the cluster-wide settings: the app whose tables to
// follow, the data dir (copies live in <dir>/view/<group>/), the Kafka
// configuration, the partitioner (the processors'), the logger, and the
// registerer of the replica's metrics (eventfold_standby_lag,
// eventfold_view_partitions_recovered). Zero fields take the defaults.
func WithSettings(s cluster.Settings) Option { return optionFunc(func(c *config) { c.Settings = s }) }

// View is a read-only replica of the tables of several entity types.
type View struct {
	brokers []string
	cfg     config
	order   []string
	byName  map[string]*replica
	started atomic.Bool
}

type replica struct {
	typ        *entity.Type
	group      string
	topic      string // the table
	partitions atomic.Int32
	set        *table.Set
	gv         atomic.Pointer[goka.View]
}

// New declares a replica of the tables of entities. Nothing touches Kafka
// before Run.
func New(brokers []string, entities []entity.Definition, opts ...Option) (*View, error) {
	cfg := config{pollInterval: 500 * time.Millisecond}
	for _, o := range opts {
		o.apply(&cfg)
	}
	cfg.Settings = cfg.Settings.WithDefaults()
	if len(brokers) == 0 || len(entities) == 0 {
		return nil, fmt.Errorf("view: %w: brokers and entities are required", eventfold.ErrInvalid)
	}
	v := &View{brokers: brokers, cfg: cfg, byName: map[string]*replica{}}
	for _, d := range entities {
		t, err := d.Type()
		if err != nil {
			return nil, err
		}
		r := &replica{typ: t, group: cfg.Group(t.Name()), topic: cfg.TableTopic(t.Name()), set: table.NewSet()}
		v.byName[t.Name()] = r
		v.order = append(v.order, t.Name())
	}
	if err := cfg.Registry().Register(collector{v}); err != nil {
		return nil, fmt.Errorf("view: register metrics: %w", err)
	}
	return v, nil
}

// Run waits for the tables to exist (the processors create them), then
// follows them until ctx ends.
func (v *View) Run(ctx context.Context) error {
	if !v.started.CompareAndSwap(false, true) {
		return errors.New("view: Run called twice")
	}
	client, err := sarama.NewClient(v.brokers, kafka.Copy(v.cfg.Sarama, "eventfold-view"))
	if err != nil {
		return fmt.Errorf("view: %w", err)
	}
	defer client.Close()
	g, ctx := run.New(ctx)
	for _, name := range v.order {
		r := v.byName[name]
		g.Go(func() error {
			if err := v.follow(ctx, client, r); err != nil {
				return fmt.Errorf("view: %s: %w", r.topic, err)
			}
			return nil
		})
		g.Go(func() error { r.set.Poll(ctx, client, r.topic, v.cfg.pollInterval); return nil })
	}
	return g.Wait()
}

func (v *View) follow(ctx context.Context, client sarama.Client, r *replica) error {
	// Wait for the table and its leaders: a goka View started on a fresh
	// topic fails with "not the leader" on real Kafka.
	for {
		parts, err := client.Partitions(r.topic)
		if err == nil && len(parts) > 0 {
			if err := kafka.WaitLeaders(ctx, client, []string{r.topic}); err != nil {
				return err
			}
			r.partitions.Store(int32(len(parts)))
			break
		}
		v.cfg.Logger.Debug("waiting for table", slog.String("topic", r.topic), slog.Any("error", err))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
			_ = client.RefreshMetadata(r.topic)
		}
	}
	opts := append([]goka.ViewOption{
		goka.WithViewClientID("eventfold-view-" + r.group),
		goka.WithViewStorageBuilder(r.set.Builder(store.Builder(filepath.Join(v.cfg.DataDir, "view", r.group), store.Options{}))),
		goka.WithViewHasher(v.cfg.Partitioner.Hasher()),
		goka.WithViewLogger(kafka.GokaLogger(v.cfg.Logger.With(slog.String("component", "goka"), slog.String("table", r.topic)))),
		// Without it the first consumer error (a broker that died and still
		// leads a partition in the metadata) ends the view and the node:
		// processors' hot standbys reconnect the same way.
		goka.WithViewAutoReconnect(),
	}, kafka.ViewOptions(v.cfg.Sarama, kafka.TopicManagerConfig(1))...)
	gv, err := goka.NewView(v.brokers, goka.Table(r.topic), new(gokacodec.Bytes), opts...)
	if err != nil {
		return err
	}
	r.gv.Store(gv)
	return gv.Run(ctx)
}

// GetStandby returns the replica's copy of entity key. The Entry is marked
// Stale with the copy's Lag. Errors: eventfold.ErrNotFound (unknown type or
// key), eventfold.ErrNotRecovered (the copy is still catching up).
func (v *View) GetStandby(ctx context.Context, entityName, key string) (table.Entry, error) {
	r, ok := v.byName[entityName]
	if !ok {
		return table.Entry{}, fmt.Errorf("%w: unknown entity type %q", eventfold.ErrNotFound, entityName)
	}
	n := r.partitions.Load()
	if n == 0 {
		return table.Entry{}, fmt.Errorf("%w: %s table not found yet", eventfold.ErrNotRecovered, entityName)
	}
	part := v.cfg.Partitioner.Partition(key, n)
	e, err := r.set.Read(entityName, part, key)
	if err != nil {
		return e, err
	}
	e.Stale = true
	e.Lag = r.set.Lag(part)
	return e, nil
}

// ListStandby reads one partition's share of a list page from the
// replica's copy, which may lag the owner's.
func (v *View) ListStandby(ctx context.Context, entityName string, partition int32, q table.ListQuery) (table.ListPart, error) {
	r, ok := v.byName[entityName]
	if !ok {
		return table.ListPart{}, fmt.Errorf("%w: unknown entity type %q", eventfold.ErrNotFound, entityName)
	}
	if n := r.partitions.Load(); n == 0 || partition < 0 || partition >= n {
		return table.ListPart{}, fmt.Errorf("%w: %s partition %d of %d", eventfold.ErrNotRecovered, entityName, partition, n)
	}
	return r.set.List(entityName, partition, q)
}

// Lag returns the copy's lag per partition of entity (-1: unknown).
func (v *View) Lag(entityName string) map[int32]int64 {
	r, ok := v.byName[entityName]
	if !ok {
		return nil
	}
	out := map[int32]int64{}
	for p := int32(0); p < r.partitions.Load(); p++ {
		out[p] = r.set.Lag(p)
	}
	return out
}

// Recovered reports whether every table's copy has caught up once.
func (v *View) Recovered() bool {
	for _, r := range v.byName {
		gv := r.gv.Load()
		if gv == nil || !gv.Recovered() {
			return false
		}
	}
	return len(v.byName) > 0
}

// Types lists the entity types.
func (v *View) Types() []*entity.Type {
	out := make([]*entity.Type, len(v.order))
	for i, n := range v.order {
		out[i] = v.byName[n].typ
	}
	return out
}

// Type returns the entity type called name.
func (v *View) Type(name string) (*entity.Type, bool) {
	r, ok := v.byName[name]
	if !ok {
		return nil, false
	}
	return r.typ, true
}

// Partitions returns the partition count of entity's table (0 before it is found).
func (v *View) Partitions(entityName string) int32 {
	if r, ok := v.byName[entityName]; ok {
		return r.partitions.Load()
	}
	return 0
}

// RecoveredPartitions lists the partitions whose copy is recovered.
func (v *View) RecoveredPartitions(entityName string) []int32 {
	if r, ok := v.byName[entityName]; ok {
		return r.set.Recovered()
	}
	return nil
}
