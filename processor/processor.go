package processor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	gokacodec "github.com/lovoo/goka/codec"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventfold/eventfold"
	"github.com/eventfold/eventfold/entity"
	"github.com/eventfold/eventfold/internal/run"
	"github.com/eventfold/eventfold/kafka"
	"github.com/eventfold/eventfold/table"
	"github.com/eventfold/eventfold/table/store"
)

// Processor folds the events of several entity types on one node. Build it
// with New and start it with Run.
type Processor struct {
	brokers []string
	cfg     config
	metrics *metrics
	order   []string
	byName  map[string]*entityRuntime

	running atomic.Bool
	started chan struct{} // closed when topics are verified and groups built

	cmdLocks    keyLocks
	prodMetrics *kafka.ProducerMetrics // nil without a registerer
	connMu      sync.Mutex             // guards the lazily made clients below
	prod        *kafka.Producer
	admin       sarama.Client
	fetch       *kafka.Fetcher

	// fatal is the first write error that no retry can mend (a record
	// over the broker's limit, a missing permission): the groups stop
	// with it instead of rejoining to fail again.
	fatal atomic.Pointer[error]
}

// permanent remembers err if retrying the write cannot help.
func (p *Processor) permanent(err error) {
	if kafka.Permanent(err) {
		p.fatal.CompareAndSwap(nil, &err)
	}
}

// fatalErr is the remembered permanent write error, or nil.
func (p *Processor) fatalErr() error {
	if e := p.fatal.Load(); e != nil {
		return *e
	}
	return nil
}

// fetcher returns the processor's record fetcher, connecting on first use.
func (p *Processor) fetcher() (*kafka.Fetcher, error) {
	p.connMu.Lock()
	defer p.connMu.Unlock()
	if p.fetch == nil {
		f, err := kafka.NewFetcher(p.brokers, p.cfg.Sarama)
		if err != nil {
			return nil, err
		}
		p.fetch = f
	}
	return p.fetch, nil
}

// producer returns the processor's producer, connecting on first use.
func (p *Processor) producer() (*kafka.Producer, error) {
	p.connMu.Lock()
	defer p.connMu.Unlock()
	if p.prod == nil {
		pr, err := kafka.NewProducer(p.brokers, p.cfg.Sarama, p.cfg.Partitioner, kafka.WithMetrics(p.prodMetrics))
		if err != nil {
			return nil, err
		}
		p.prod = pr
	}
	return p.prod, nil
}

// client returns a metadata client, connecting on first use.
func (p *Processor) client() (sarama.Client, error) {
	p.connMu.Lock()
	defer p.connMu.Unlock()
	if p.admin == nil {
		c, err := sarama.NewClient(p.brokers, kafka.Copy(p.cfg.Sarama, "eventfold-commands"))
		if err != nil {
			return nil, err
		}
		p.admin = c
	}
	return p.admin, nil
}

func (p *Processor) closeClients() {
	p.connMu.Lock()
	defer p.connMu.Unlock()
	if p.prod != nil {
		p.prod.Close()
	}
	if p.admin != nil {
		p.admin.Close()
	}
	if p.fetch != nil {
		p.fetch.Close()
	}
}

// entityRuntime is one entity type's goka group on this node.
type entityRuntime struct {
	p          *Processor
	typ        *entity.Type
	group      string
	changelog  string // the table's topic
	history    string
	past       *table.History // reads the history (the owner's)
	partitions atomic.Int32
	stores     *table.Set
	progress   *progress
	gp         *goka.Processor
	refold     bool // run by a Refold: no history index, no dead-letter writes

	mu       sync.RWMutex
	assigned map[int32]bool
	lag      map[int32]int64 // partition -> records behind the high-water mark

	pending pendingStates // folded-aside states of unfinished commands

	folded      []prometheus.Counter
	skipped     prometheus.Counter
	foldSeconds prometheus.Observer
}

// New validates the entity definitions and options. Nothing touches Kafka
// before Run.
func New(brokers []string, entities []entity.Definition, opts ...Option) (*Processor, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o.apply(&cfg)
	}
	cfg.Settings = cfg.Settings.WithDefaults()
	if len(brokers) == 0 {
		return nil, fmt.Errorf("processor: %w: no brokers", eventfold.ErrInvalid)
	}
	if len(entities) == 0 {
		return nil, fmt.Errorf("processor: %w: no entity types", eventfold.ErrInvalid)
	}
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("processor: %w: %w", eventfold.ErrInvalid, err)
	}
	reg := cfg.Registry()
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	p := &Processor{
		brokers: brokers,
		cfg:     cfg,
		metrics: m,
		byName:  map[string]*entityRuntime{},
		started: make(chan struct{}),
	}
	topics := map[string]string{}
	for _, d := range entities {
		t, err := d.Type()
		if err != nil {
			return nil, err
		}
		switch {
		case t.Kind() == entity.KindProjection:
			// Written by this application's re-keying only.
			t = t.WithTopic(cfg.RepartitionTopic(t.Name()))
		case cfg.topicPrefix != "":
			t = t.WithTopic(cfg.topicPrefix + t.Topic())
		}
		name := t.Name()
		if _, dup := p.byName[name]; dup {
			return nil, fmt.Errorf("processor: entity type %q declared twice", name)
		}
		if other, dup := topics[t.Topic()]; dup {
			return nil, fmt.Errorf("processor: entity types %q and %q share the events topic %s", other, name, t.Topic())
		}
		topics[t.Topic()] = name
		rt := &entityRuntime{
			p:           p,
			typ:         t,
			group:       cfg.Group(name),
			changelog:   cfg.TableTopic(name),
			history:     cfg.HistoryTopic(name),
			stores:      table.NewSet(),
			progress:    newProgress(),
			assigned:    map[int32]bool{},
			lag:         map[int32]int64{},
			skipped:     p.metrics.skipped.WithLabelValues(name),
			foldSeconds: p.metrics.foldSeconds.WithLabelValues(name),
		}
		rt.past = &table.History{Type: t, Events: t.Topic(), Nodes: rt.history, Fetcher: p.fetcher, PageBytes: cfg.historyBytes}
		p.byName[name] = rt
		p.order = append(p.order, name)
	}
	if err := reg.Register(newCollector(p)); err != nil {
		return nil, fmt.Errorf("processor: register metrics: %w", err)
	}
	pm, err := kafka.NewProducerMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("processor: %w", err)
	}
	for _, name := range p.order {
		rt := p.byName[name]
		pm.Watch(rt.typ.Topic())
		pm.Watch(rt.typ.DeadLetterTopic())
		if cfg.history {
			pm.Watch(rt.history)
		}
	}
	p.prodMetrics = pm
	return p, nil
}

// Topics returns the topics the processor needs, with the partition count
// and replication it would create them with.
func (p *Processor) Topics() []kafka.TopicSpec {
	var specs []kafka.TopicSpec
	for _, name := range p.order {
		rt := p.byName[name]
		specs = append(specs,
			kafka.TopicSpec{Name: rt.typ.Topic(), Kind: kafka.Events, Partitions: p.cfg.partitions, Replication: p.cfg.replication, AdoptPartitions: true},
			kafka.TopicSpec{Name: rt.changelog, Kind: kafka.Table, Partitions: p.cfg.partitions, Replication: p.cfg.replication, Config: p.cfg.tableConfig},
			kafka.TopicSpec{Name: rt.typ.DeadLetterTopic(), Kind: kafka.DeadLetters, Partitions: p.cfg.partitions, Replication: p.cfg.replication, AdoptPartitions: true},
		)
		if p.cfg.history {
			specs = append(specs, kafka.TopicSpec{Name: p.cfg.HistoryTopic(name), Kind: kafka.History, Partitions: p.cfg.partitions, Replication: p.cfg.replication, AdoptPartitions: true})
		}
	}
	return specs
}

// Run creates or verifies the topics, then folds events until ctx is
// cancelled or a group fails. It returns nil after a clean shutdown; work
// in flight is either committed or redelivered (and deduplicated) later.
func (p *Processor) Run(ctx context.Context) error {
	if !p.running.CompareAndSwap(false, true) {
		return errors.New("processor: Run called twice")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer p.closeClients()

	procs, err := p.build(ctx)
	if err != nil {
		return err
	}
	close(p.started)

	g, ctx := run.New(ctx)
	if p.cfg.hotStandby {
		// Standby answers report their lag: poll the tables' high-water marks.
		client, err := sarama.NewClient(p.brokers, kafka.Copy(p.cfg.Sarama, "eventfold-hwm"))
		if err != nil {
			return fmt.Errorf("processor: %w", err)
		}
		defer client.Close()
		for _, name := range p.order {
			rt := p.byName[name]
			g.Go(func() error { rt.stores.Poll(ctx, client, rt.changelog, 500*time.Millisecond); return nil })
		}
	}
	for i, gp := range procs {
		g.Go(func() error {
			err := gp.Run(ctx)
			if err != nil {
				err = fmt.Errorf("processor: group %s: %w", p.byName[p.order[i]].group, err)
				if errors.Is(err, sarama.ErrInvalidSessionTimeout) {
					err = fmt.Errorf("%w (session timeout %v: Kafka accepts group.min.session.timeout.ms (default 6s) "+
						"to group.max.session.timeout.ms (default 30m))", err, p.cfg.Sarama.Consumer.Group.Session.Timeout)
				}
			}
			return err
		})
	}
	return g.Wait()
}

// EnsureTopics creates (or, with create false, only verifies) the topics
// of every entity type: events topics first, since a table must have as
// many partitions as its events topic, which may predate eventfold.
func (p *Processor) EnsureTopics(ctx context.Context, create bool) ([]kafka.TopicState, error) {
	ensure := kafka.VerifyTopics
	if create {
		ensure = kafka.EnsureTopics
	}
	var events, rest []kafka.TopicSpec
	for _, s := range p.Topics() {
		if s.Kind == kafka.Events {
			events = append(events, s)
		} else {
			rest = append(rest, s)
		}
	}
	states, err := ensure(ctx, p.brokers, p.cfg.Sarama, events)
	if err != nil {
		return states, fmt.Errorf("processor: %w", err)
	}
	parts := map[string]int32{}
	for _, st := range states {
		parts[st.Spec.Name] = st.Partitions
	}
	for i := range rest {
		for _, name := range p.order {
			if rt := p.byName[name]; rest[i].Name == rt.changelog {
				rest[i].Partitions = parts[rt.typ.Topic()]
			}
		}
	}
	more, err := ensure(ctx, p.brokers, p.cfg.Sarama, rest)
	states = append(states, more...)
	if err != nil {
		return states, fmt.Errorf("processor: %w", err)
	}
	return states, nil
}

// build ensures the topics and creates one goka processor per entity type.
func (p *Processor) build(ctx context.Context) ([]*goka.Processor, error) {
	tctx, cancel := context.WithTimeout(ctx, p.cfg.startTimeout)
	defer cancel()
	states, err := p.EnsureTopics(tctx, !p.cfg.skipTopics)
	if err != nil {
		return nil, err
	}
	parts := map[string]int32{}
	for _, st := range states {
		parts[st.Spec.Name] = st.Partitions
	}

	sc := kafka.Copy(p.cfg.Sarama, "")
	sc.Consumer.Group.Member.UserData = p.cfg.memberData
	tm := kafka.TopicManagerConfig(int(max(p.cfg.replication, 1)))
	var procs []*goka.Processor
	for _, name := range p.order {
		rt := p.byName[name]
		n := parts[rt.typ.Topic()]
		rt.partitions.Store(n)
		rt.folded = make([]prometheus.Counter, n)
		for i := range rt.folded {
			rt.folded[i] = p.metrics.folded.WithLabelValues(name, strconv.Itoa(i))
		}
		gp, err := rt.newGoka(sc, tm)
		if err != nil {
			return nil, fmt.Errorf("processor: entity %s: %w", name, err)
		}
		rt.gp = gp
		procs = append(procs, gp)
	}
	return procs, nil
}

func (rt *entityRuntime) newGoka(sc *sarama.Config, tm *goka.TopicManagerConfig) (*goka.Processor, error) {
	cfg := rt.p.cfg
	gg := goka.DefineGroup(goka.Group(rt.group),
		goka.Input(goka.Stream(rt.typ.Topic()), new(gokacodec.Bytes), rt.fold),
		goka.Persist(new(gokacodec.Bytes)),
	)
	opts := []goka.ProcessorOption{
		goka.WithClientID("eventfold-" + rt.group),
		goka.WithStorageBuilder(rt.stores.Builder(store.Builder(filepath.Join(cfg.DataDir, rt.group), store.Options{}))),
		goka.WithHasher(cfg.Partitioner.Hasher()),
		goka.WithRebalanceCallback(rt.onAssign),
		goka.WithLogger(kafka.GokaLogger(cfg.Logger.With(slog.String("component", "goka"), slog.String("group", rt.group)))),
	}
	opts = append(opts, kafka.ProcessorOptions(sc, tm)...)
	// After kafka's builders: changelog writes that can never succeed stop
	// the group instead of failing the session over and over.
	opts = append(opts, goka.WithProducerBuilder(kafka.WatchProducer(kafka.ProducerBuilder(sc), rt.p.permanent)))
	// After kafka's builders: wrap its consumer group so offsets commit in order.
	opts = append(opts, goka.WithConsumerGroupBuilder(func(brokers []string, group, clientID string) (sarama.ConsumerGroup, error) {
		cg, err := sarama.NewConsumerGroup(brokers, group, kafka.Copy(sc, clientID))
		if err != nil {
			return nil, err
		}
		return orderedGroup{ConsumerGroup: cg, observe: rt.observeLag, onClaim: rt.progress.start, fatal: rt.p.fatalErr,
			logger: cfg.Logger.With(slog.String("group", rt.group))}, nil
	}))
	if cfg.hotStandby {
		opts = append(opts, goka.WithHotStandby(), goka.WithRecoverAhead())
	}
	return goka.NewProcessor(rt.p.brokers, gg, opts...)
}

func (rt *entityRuntime) onAssign(a goka.Assignment) {
	m := make(map[int32]bool, len(a))
	for p := range a {
		m[p] = true
	}
	rt.pending.keep(m)
	rt.mu.Lock()
	rt.assigned = m
	for p := range rt.lag {
		if !m[p] {
			delete(rt.lag, p)
		}
	}
	rt.mu.Unlock()
	rt.p.metrics.rebalances.WithLabelValues(rt.typ.Name()).Inc()
	parts := sortedKeys(m)
	rt.p.cfg.Logger.Info("partitions assigned", slog.String("entity", rt.typ.Name()), slog.Any("partitions", parts))
	if hook := rt.p.cfg.onAssign; hook != nil {
		hook(rt.typ.Name(), parts)
	}
}

// observeLag records how far delivery is behind the partition's end.
func (rt *entityRuntime) observeLag(partition int32, offset, hwm int64) {
	rt.mu.Lock()
	rt.lag[partition] = max(hwm-offset-1, 0)
	rt.mu.Unlock()
}

func (rt *entityRuntime) owns(partition int32) bool {
	rt.mu.RLock()
	defer rt.mu.RUnlock()
	return rt.assigned[partition]
}

func sortedKeys(m map[int32]bool) []int32 {
	out := make([]int32, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// waitStarted blocks until Run has built the groups.
func (p *Processor) waitStarted(ctx context.Context) error {
	select {
	case <-p.started:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
