package subscriber

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/eventfold/eventfold"
	"github.com/eventfold/eventfold/cluster"
	"github.com/eventfold/eventfold/entity"
	"github.com/eventfold/eventfold/internal/run"
	"github.com/eventfold/eventfold/kafka"
	"github.com/eventfold/eventfold/processor"
)

// Runner runs, on one node, the subscribers it is told to run. Build it
// with New and start it with Run.
type Runner struct {
	brokers []string
	cfg     config
	types   map[string]*entity.Type
	subs    []*sub // declared, in order; run only if selected
	metrics *metrics

	client   sarama.Client
	consumer sarama.Consumer
	prod     *kafka.Producer
	started  chan struct{}
}

// Option configures a Runner.
type Option func(*config)

type config struct {
	cluster.Settings
	partitions     int32
	replication    int16
	only           []string // nil: all
	commitInterval time.Duration
	drainTimeout   time.Duration
	commander      Commander
}

// WithSettings sets the cluster-wide settings (package node hands down one
// Settings to every stage).
func WithSettings(s cluster.Settings) Option { return func(c *config) { c.Settings = s } }

// WithTopics sets the partitions (for events topics it has to create) and
// the replication of the topics it creates; the state topics take the
// partition count of the events topic they follow.
func WithTopics(partitions int32, replication int16) Option {
	return func(c *config) { c.partitions, c.replication = partitions, replication }
}

// WithOnly runs only the named subscribers on this node (the others stay
// declared: their state is shown, nothing is delivered here). An empty
// list runs none.
func WithOnly(names ...string) Option {
	return func(c *config) { c.only = append([]string{}, names...) }
}

// WithCommitInterval sets how often acked state is written and offsets
// are marked (at-least-once); default 500ms.
func WithCommitInterval(d time.Duration) Option { return func(c *config) { c.commitInterval = d } }

// WithDrainTimeout sets how long a partition being taken away (a
// rebalance, a shutdown) waits for its deliveries in flight before leaving
// them to the next owner; default 10s.
func WithDrainTimeout(d time.Duration) Option { return func(c *config) { c.drainTimeout = d } }

// New validates the subscribers against the entity types. Nothing touches
// Kafka before Run.
func New(brokers []string, types []*entity.Type, subs []Subscriber, opts ...Option) (*Runner, error) {
	cfg := config{partitions: 10, commitInterval: 500 * time.Millisecond, drainTimeout: 10 * time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	cfg.Settings = cfg.Settings.WithDefaults()
	if len(brokers) == 0 {
		return nil, fmt.Errorf("subscriber: %w: no brokers", eventfold.ErrInvalid)
	}
	if cfg.commitInterval <= 0 || cfg.drainTimeout < 0 {
		return nil, fmt.Errorf("subscriber: %w: commit interval %v, drain timeout %v", eventfold.ErrInvalid, cfg.commitInterval, cfg.drainTimeout)
	}
	r := &Runner{brokers: brokers, cfg: cfg, types: map[string]*entity.Type{}, started: make(chan struct{})}
	for _, t := range types {
		r.types[t.Name()] = t
	}
	names := map[string]bool{}
	for _, s := range subs {
		s = s.withDefaults()
		if err := s.validate(r.types); err != nil {
			return nil, err
		}
		if names[s.Name] {
			return nil, fmt.Errorf("subscriber: %w: %q declared twice", eventfold.ErrInvalid, s.Name)
		}
		names[s.Name] = true
		for _, t := range types {
			if cfg.Group(t.Name()) == cfg.SubscriberGroup(s.Name) {
				return nil, fmt.Errorf("subscriber: %w: subscriber %q and entity type %q would share the group %s",
					eventfold.ErrInvalid, s.Name, t.Name(), cfg.Group(t.Name()))
			}
		}
		r.subs = append(r.subs, newSub(r, s))
	}
	for _, n := range cfg.only {
		if !names[n] {
			return nil, fmt.Errorf("subscriber: %w: asked to run %q, which is not declared (declared: %v)", eventfold.ErrInvalid, n, slices.Sorted(maps.Keys(names)))
		}
	}
	for _, s := range r.subs {
		s.runs = cfg.only == nil || slices.Contains(cfg.only, s.s.Name)
	}
	m, err := newMetrics(cfg.Registry())
	if err != nil {
		return nil, err
	}
	r.metrics = m
	for _, s := range r.subs {
		m.paused.WithLabelValues(s.s.Name).Set(0)
	}
	return r, nil
}

// Topics returns the topics the runner needs besides the events topics:
// per subscriber its state topics and dead-letter topic, and the control
// topic. Partitions 0 means "as many as the events topic".
func (r *Runner) Topics() []kafka.TopicSpec {
	if len(r.subs) == 0 {
		return nil
	}
	specs := []kafka.TopicSpec{{Name: r.cfg.SubscriberControlTopic(), Kind: kafka.Table, Partitions: 1, Replication: r.cfg.replication}}
	for _, s := range r.subs {
		for _, e := range s.s.Entities {
			specs = append(specs, kafka.TopicSpec{Name: r.cfg.SubscriberStateTopic(s.s.Name, e), Kind: kafka.Table, Replication: r.cfg.replication})
		}
		specs = append(specs, kafka.TopicSpec{Name: r.cfg.SubscriberDeadLetterTopic(s.s.Name), Kind: kafka.DeadLetters,
			Partitions: r.cfg.partitions, Replication: r.cfg.replication, AdoptPartitions: true})
	}
	return specs
}

// EnsureTopics creates (or only verifies) the events topics the
// subscribers follow and the runner's own topics.
func (r *Runner) EnsureTopics(ctx context.Context, create bool) error {
	ensure := kafka.VerifyTopics
	if create {
		ensure = kafka.EnsureTopics
	}
	var events []kafka.TopicSpec
	for _, t := range r.followed() {
		events = append(events, kafka.TopicSpec{Name: t.Topic(), Kind: kafka.Events, Partitions: r.cfg.partitions, Replication: r.cfg.replication, AdoptPartitions: true})
	}
	states, err := ensure(ctx, r.brokers, r.cfg.Sarama, events)
	if err != nil {
		return fmt.Errorf("subscriber: %w", err)
	}
	parts := map[string]int32{}
	for _, st := range states {
		parts[st.Spec.Name] = st.Partitions
	}
	specs := r.Topics()
	for i := range specs {
		for _, s := range r.subs {
			for _, e := range s.s.Entities {
				if specs[i].Name == r.cfg.SubscriberStateTopic(s.s.Name, e) {
					specs[i].Partitions = parts[r.types[e].Topic()]
				}
			}
		}
	}
	if _, err := ensure(ctx, r.brokers, r.cfg.Sarama, specs); err != nil {
		return fmt.Errorf("subscriber: %w", err)
	}
	return nil
}

// runsAny says whether this node runs at least one subscriber.
func (r *Runner) runsAny() bool {
	for _, s := range r.subs {
		if s.runs {
			return true
		}
	}
	return false
}

// followed are the entity types some subscriber follows.
func (r *Runner) followed() []*entity.Type {
	var out []*entity.Type
	seen := map[string]bool{}
	for _, s := range r.subs {
		for _, e := range s.s.Entities {
			if !seen[e] {
				seen[e] = true
				out = append(out, r.types[e])
			}
		}
	}
	return out
}

// Run ensures the topics, follows the control topic and runs the selected
// subscribers until ctx is cancelled or one fails for good.
func (r *Runner) Run(ctx context.Context) error {
	if !r.runsAny() {
		// Declared, not run here: nothing to read or write.
		<-ctx.Done()
		return nil
	}
	tctx, cancel := context.WithTimeout(ctx, time.Minute)
	err := r.EnsureTopics(tctx, true)
	cancel()
	if err != nil {
		return err
	}
	client, err := sarama.NewClient(r.brokers, kafka.Copy(r.cfg.Sarama, "eventfold-subscribers"))
	if err != nil {
		return fmt.Errorf("subscriber: connect: %w", err)
	}
	defer client.Close()
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return fmt.Errorf("subscriber: consumer: %w", err)
	}
	defer consumer.Close()
	prod, err := kafka.NewProducer(r.brokers, r.cfg.Sarama, r.cfg.Partitioner)
	if err != nil {
		return fmt.Errorf("subscriber: %w", err)
	}
	defer prod.Close()
	r.client, r.consumer, r.prod = client, consumer, prod

	g, ctx := run.New(ctx)
	ready := make(chan struct{})
	g.Go(func() error { return r.followControl(ctx, ready) })
	select {
	case <-ready:
	case <-ctx.Done():
		return g.Wait()
	}
	close(r.started)
	for _, s := range r.subs {
		if s.runs {
			g.Go(func() error { return s.run(ctx) })
		}
	}
	return g.Wait()
}

// readPartition returns the latest value of each key of a compacted
// partition, up to its high-water mark when called.
func (r *Runner) readPartition(ctx context.Context, topic string, p int32) (map[string][]byte, error) {
	msgs, err := kafka.ReadPartition(ctx, r.client, r.consumer, topic, p)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(msgs))
	for _, m := range msgs {
		if m.Value == nil {
			delete(out, string(m.Key))
		} else {
			out[string(m.Key)] = m.Value
		}
	}
	return out, nil
}

// sub is one declared subscriber on this node.
type sub struct {
	r     *Runner
	s     Subscriber
	group string
	dlq   string
	runs  bool
	sem   chan struct{}
	log   *slog.Logger

	mu      sync.Mutex
	paused  bool
	resumed chan struct{} // closed when a pause ends
	lags    map[string]map[int32]int64
	counts  counts
}

type counts struct{ delivered, retried, deadLettered int64 }

func newSub(r *Runner, s Subscriber) *sub {
	return &sub{
		r: r, s: s,
		group: r.cfg.SubscriberGroup(s.Name),
		dlq:   r.cfg.SubscriberDeadLetterTopic(s.Name),
		sem:   make(chan struct{}, s.Concurrency),
		log:   r.cfg.Logger.With(slog.String("subscriber", s.Name)),
		lags:  map[string]map[int32]int64{},
	}
}

// run consumes the followed events topics in the subscriber's group,
// session after session, until ctx ends.
func (s *sub) run(ctx context.Context) error {
	sc := kafka.Copy(s.r.cfg.Sarama, "eventfold-"+s.group)
	sc.Consumer.Offsets.Initial = sarama.OffsetOldest
	sc.Consumer.Offsets.AutoCommit.Enable = true
	cg, err := sarama.NewConsumerGroup(s.r.brokers, s.group, sc)
	if err != nil {
		return fmt.Errorf("subscriber %s: group: %w", s.s.Name, err)
	}
	defer cg.Close()
	refolds := map[string]*processor.Refold{}
	var topics []string
	byTopic := map[string]*entity.Type{}
	for _, e := range s.s.Entities {
		t := s.r.types[e]
		rf, err := processor.NewRefold(s.r.brokers, t, processor.WithSettings(s.r.cfg.Settings))
		if err != nil {
			return err
		}
		defer rf.Close()
		refolds[t.Topic()] = rf
		byTopic[t.Topic()] = t
		topics = append(topics, t.Topic())
	}
	h := &groupHandler{s: s, refolds: refolds, types: byTopic}
	wait := 200 * time.Millisecond
	for ctx.Err() == nil {
		err := cg.Consume(ctx, topics, h)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, sarama.ErrClosedConsumerGroup) {
			return fmt.Errorf("subscriber %s: %w", s.s.Name, err)
		}
		if err != nil {
			s.log.Warn("subscriber session ended; rejoining", slog.Any("error", err))
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(wait):
			}
			wait = min(2*wait, 5*time.Second)
			continue
		}
		wait = 200 * time.Millisecond
	}
	return nil
}

type groupHandler struct {
	s       *sub
	refolds map[string]*processor.Refold
	types   map[string]*entity.Type
}

func (h *groupHandler) Setup(sess sarama.ConsumerGroupSession) error {
	h.s.log.Info("subscriber partitions assigned", slog.Any("claims", sess.Claims()))
	return nil
}

func (h *groupHandler) Cleanup(sess sarama.ConsumerGroupSession) error {
	h.s.mu.Lock()
	for e, parts := range h.s.lags {
		for p := range parts {
			h.s.r.metrics.lag.DeleteLabelValues(h.s.s.Name, e, strconv.Itoa(int(p)))
		}
	}
	h.s.lags = map[string]map[int32]int64{}
	h.s.mu.Unlock()
	return nil
}

func (h *groupHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, cl sarama.ConsumerGroupClaim) error {
	t := h.types[cl.Topic()]
	c := &claim{
		s: h.s, typ: t, refold: h.refolds[cl.Topic()], topic: cl.Topic(), partition: cl.Partition(),
		state: h.s.r.cfg.SubscriberStateTopic(h.s.s.Name, t.Name()), sess: sess, cl: cl,
		log: h.s.log.With(slog.String("entity", t.Name()), slog.Int("partition", int(cl.Partition()))),
	}
	err := c.run()
	if err != nil && sess.Context().Err() != nil {
		return nil // the session ended during the restore
	}
	return err
}

// setLag records a partition's lag for the status and the metric.
func (s *sub) setLag(entityName string, p int32, lag int64) {
	s.r.metrics.lag.WithLabelValues(s.s.Name, entityName, strconv.Itoa(int(p))).Set(float64(lag))
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lags[entityName] == nil {
		s.lags[entityName] = map[int32]int64{}
	}
	s.lags[entityName][p] = lag
}
