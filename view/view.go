package view

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	gokacodec "github.com/lovoo/goka/codec"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventfold/eventfold"
	"github.com/eventfold/eventfold/internal/store"
	"github.com/eventfold/eventfold/internal/table"
	"github.com/eventfold/eventfold/kafka"
	"github.com/eventfold/eventfold/processor"
)

// Option configures a View.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	app          string
	dataDir      string
	saramaConfig *sarama.Config
	partitioner  kafka.Partitioner
	logger       *slog.Logger
	pollInterval time.Duration
	registerer   prometheus.Registerer
}

// WithRegisterer registers the replica's metrics (eventfold_standby_lag,
// eventfold_view_partitions_recovered). Default: none.
func WithRegisterer(r prometheus.Registerer) Option {
	return optionFunc(func(c *config) { c.registerer = r })
}

// WithApp is the application whose tables to follow. Default "eventfold".
func WithApp(app string) Option { return optionFunc(func(c *config) { c.app = app }) }

// WithDataDir is where the copies live: <dir>/view/<group>/. Default "data".
func WithDataDir(dir string) Option { return optionFunc(func(c *config) { c.dataDir = dir }) }

// WithSaramaConfig sets the base client configuration. Default kafka.NewConfig().
func WithSaramaConfig(sc *sarama.Config) Option {
	return optionFunc(func(c *config) { c.saramaConfig = sc })
}

// WithPartitioner must match the processors'. Default kafka.FNV1a.
func WithPartitioner(p kafka.Partitioner) Option {
	return optionFunc(func(c *config) { c.partitioner = p })
}

// WithLogger sets the logger. Default: discard.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c *config) {
		if l != nil {
			c.logger = l
		}
	})
}

// View is a read-only replica of the tables of several entity types.
type View struct {
	brokers []string
	cfg     config
	order   []string
	byName  map[string]*replica
	started atomic.Bool
}

type replica struct {
	typ        *processor.Type
	group      string
	topic      string // the table
	partitions atomic.Int32
	set        *table.Set
	gv         atomic.Pointer[goka.View]
}

// New declares a replica of the tables of entities. Nothing touches Kafka
// before Run.
func New(brokers []string, entities []processor.Definition, opts ...Option) (*View, error) {
	cfg := config{
		app: "eventfold", dataDir: "data", saramaConfig: kafka.NewConfig(), partitioner: kafka.FNV1a,
		logger: slog.New(slog.NewTextHandler(io.Discard, nil)), pollInterval: 500 * time.Millisecond,
	}
	for _, o := range opts {
		o.apply(&cfg)
	}
	if len(brokers) == 0 || len(entities) == 0 {
		return nil, fmt.Errorf("view: %w: brokers and entities are required", eventfold.ErrInvalid)
	}
	v := &View{brokers: brokers, cfg: cfg, byName: map[string]*replica{}}
	for _, d := range entities {
		t, err := d.Type()
		if err != nil {
			return nil, err
		}
		r := &replica{typ: t, group: processor.Group(cfg.app, t.Name()), topic: processor.TableTopic(cfg.app, t.Name()), set: table.NewSet()}
		v.byName[t.Name()] = r
		v.order = append(v.order, t.Name())
	}
	if cfg.registerer != nil {
		if err := cfg.registerer.Register(collector{v}); err != nil {
			return nil, fmt.Errorf("view: register metrics: %w", err)
		}
	}
	return v, nil
}

// Run waits for the tables to exist (the processors create them), then
// follows them until ctx ends.
func (v *View) Run(ctx context.Context) error {
	if !v.started.CompareAndSwap(false, true) {
		return errors.New("view: Run called twice")
	}
	client, err := sarama.NewClient(v.brokers, kafka.Copy(v.cfg.saramaConfig, "eventfold-view"))
	if err != nil {
		return fmt.Errorf("view: %w", err)
	}
	defer client.Close()
	var wg sync.WaitGroup
	errs := make(chan error, len(v.order))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for _, name := range v.order {
		r := v.byName[name]
		wg.Add(2)
		go func() {
			defer wg.Done()
			if err := v.follow(ctx, client, r); err != nil {
				errs <- fmt.Errorf("view: %s: %w", r.topic, err)
				cancel()
			}
		}()
		go func() { defer wg.Done(); r.set.Poll(ctx, client, r.topic, v.cfg.pollInterval) }()
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
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
		v.cfg.logger.Debug("waiting for table", slog.String("topic", r.topic), slog.Any("error", err))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
			_ = client.RefreshMetadata(r.topic)
		}
	}
	opts := append([]goka.ViewOption{
		goka.WithViewClientID("eventfold-view-" + r.group),
		goka.WithViewStorageBuilder(r.set.Builder(store.Builder(filepath.Join(v.cfg.dataDir, "view", r.group), store.Options{}))),
		goka.WithViewHasher(v.cfg.partitioner.Hasher()),
		goka.WithViewLogger(kafka.GokaLogger(v.cfg.logger.With(slog.String("component", "goka"), slog.String("table", r.topic)))),
		// Without it the first consumer error (a broker that died and still
		// leads a partition in the metadata) ends the view and the node:
		// processors' hot standbys reconnect the same way.
		goka.WithViewAutoReconnect(),
	}, kafka.ViewOptions(v.cfg.saramaConfig, kafka.TopicManagerConfig(1))...)
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
func (v *View) GetStandby(ctx context.Context, entity, key string) (processor.Entry, error) {
	r, ok := v.byName[entity]
	if !ok {
		return processor.Entry{}, fmt.Errorf("%w: unknown entity type %q", eventfold.ErrNotFound, entity)
	}
	n := r.partitions.Load()
	if n == 0 {
		return processor.Entry{}, fmt.Errorf("%w: %s table not found yet", eventfold.ErrNotRecovered, entity)
	}
	part := v.cfg.partitioner.Partition(key, n)
	st := r.set.Get(part)
	if st == nil || !st.Recovered() {
		return processor.Entry{}, fmt.Errorf("%w: %s partition %d", eventfold.ErrNotRecovered, entity, part)
	}
	raw, err := st.Get(key)
	if err != nil {
		return processor.Entry{}, fmt.Errorf("%w: %s partition %d: %v", eventfold.ErrNotRecovered, entity, part, err)
	}
	if raw == nil {
		return processor.Entry{}, fmt.Errorf("%w: %s %q", eventfold.ErrNotFound, entity, key)
	}
	e, err := processor.EntryFromStored(entity, key, part, raw)
	if err != nil {
		return e, err
	}
	e.Stale = true
	e.Lag = r.set.Lag(part)
	return e, nil
}

// Lag returns the copy's lag per partition of entity (-1: unknown).
func (v *View) Lag(entity string) map[int32]int64 {
	r, ok := v.byName[entity]
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
func (v *View) Types() []*processor.Type {
	out := make([]*processor.Type, len(v.order))
	for i, n := range v.order {
		out[i] = v.byName[n].typ
	}
	return out
}

// Type returns the entity type called name.
func (v *View) Type(name string) (*processor.Type, bool) {
	r, ok := v.byName[name]
	if !ok {
		return nil, false
	}
	return r.typ, true
}

// Partitions returns the partition count of entity's table (0 before it is found).
func (v *View) Partitions(entity string) int32 {
	if r, ok := v.byName[entity]; ok {
		return r.partitions.Load()
	}
	return 0
}

// RecoveredPartitions lists the partitions whose copy is recovered.
func (v *View) RecoveredPartitions(entity string) []int32 {
	if r, ok := v.byName[entity]; ok {
		return r.set.Recovered()
	}
	return nil
}
