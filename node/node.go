package node

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/eventfold/eventfold"
	"github.com/eventfold/eventfold/cluster"
	"github.com/eventfold/eventfold/console"
	"github.com/eventfold/eventfold/entity"
	"github.com/eventfold/eventfold/interactive"
	"github.com/eventfold/eventfold/internal/run"
	"github.com/eventfold/eventfold/kafka"
	"github.com/eventfold/eventfold/limits"
	"github.com/eventfold/eventfold/processor"
	"github.com/eventfold/eventfold/projection"
	"github.com/eventfold/eventfold/subscriber"
	"github.com/eventfold/eventfold/view"
)

// Config describes a node. Brokers and Entities are required.
type Config struct {
	Brokers  []string
	Entities []entity.Definition

	App          string // group prefix; default cluster.DefaultApp
	NodeID       string // default: hostname + random suffix
	DataDir      string // default cluster.DefaultDataDir
	HTTPAddr     string // listen address; default ":8080" (":0" picks a free port)
	AdvertiseURL string // how other nodes reach this one; default derived from the listener
	Partitions   int32  // for created topics; default 10
	Replication  int16  // for created topics; default min(3, brokers)
	HotStandby   bool   // keep non-owned partitions warm
	// Role is interactive.RoleProcessor (default: owns partitions, folds) or
	// interactive.RoleReplica (read-only copies of the tables, no partitions).
	Role        interactive.Role
	TopicPrefix string // prepended to events topics; default none
	Token       string // an admin bearer token for the API; default none
	// Tokens are scoped bearer tokens (interactive.ParseTokens reads a
	// tokens file); with any token, ClusterSecret is required.
	Tokens interactive.Tokens
	// ClusterSecret signs the membership and the forwards between nodes
	// (never a client token); every node of the cluster has the same.
	ClusterSecret []byte
	// MetricsNeedToken puts /metrics behind an admin token.
	MetricsNeedToken bool
	// TLS, if set, serves the API over HTTPS (its Certificates; for mutual
	// TLS between nodes, ClientAuth tls.VerifyClientCertIfGiven and
	// ClientCAs). The advertised URL is then https://.
	TLS *tls.Config
	// PeerTLS is the TLS configuration of forwards to other nodes: the CA
	// (RootCAs) and, for mutual TLS, this node's client certificate.
	PeerTLS *tls.Config
	// PeerCertRequired accepts forwards only with a client certificate the
	// TLS configuration verified (needs TLS with ClientCAs and ClusterSecret).
	PeerCertRequired bool
	Partitioner      kafka.Partitioner
	Sarama           *sarama.Config // default kafka.NewConfig()
	Logger           *slog.Logger   // default discard
	// Registry receives all metrics; default a new registry with Go,
	// build-info (go_build_info) and process collectors.
	Registry *prometheus.Registry
	// LookupDeadline bounds read retries during rebalances; default 5s.
	LookupDeadline time.Duration
	// OwnershipInterval is the membership poll; default 1s.
	OwnershipInterval time.Duration
	// ShutdownTimeout bounds the graceful HTTP shutdown; default 10s.
	ShutdownTimeout time.Duration
	// HistoryPageBytes bounds the event payload bytes of one page of
	// GET /v1/{entity}/{id}/events (processor.WithHistoryPageBytes); a page
	// ends early and its "next" continues. Default (0)
	// limits.HistoryPageBytes, 4 MiB.
	HistoryPageBytes int
	// ProcessorOptions are appended to the options the node derives.
	ProcessorOptions []processor.Option
	// Subscribers are the side-effect handlers declared beside the entity
	// types (package subscriber). Every node of a cluster declares the
	// same ones.
	Subscribers []subscriber.Subscriber
	// RunSubscribers names those this node runs: nil runs all of them, an
	// empty list none (serve --subscribers). Projections' re-keying runs on
	// every processor node whatever it says.
	RunSubscribers []string
	// Projections are the views across entities declared beside the
	// entity types (package projection); every node of a cluster declares
	// the same.
	Projections []projection.Definition
	// SubscriberOptions are appended to the options the node derives.
	SubscriberOptions []subscriber.Option
	// NoConsole turns off the ops console at /ui/ (package console): static
	// files that read and write through the API with the user's token.
	NoConsole bool
}

// Node is a running eventfold node.
type Node struct {
	cfg       Config
	settings  cluster.Settings // handed down to every stage
	ln        net.Listener
	self      interactive.Member
	proc      *processor.Processor // nil on replicas
	subs      *subscriber.Runner   // nil without subscribers and projections
	projs     *projection.Set      // nil without projections
	view      *view.View           // nil on processors
	catalog   interactive.Catalog
	own       *interactive.Ownership
	api       *interactive.Server
	registry  *prometheus.Registry
	logger    *slog.Logger
	producer  *kafka.Producer
	producerM sync.Mutex
	fetcher   *kafka.Fetcher // reads the dead letters; connected on first use
	fetcherM  sync.Mutex
	// prodMetrics counts appends; shared with the processor's producer.
	prodMetrics *kafka.ProducerMetrics
}

// New validates cfg, opens the HTTP listener (so the advertised address is
// known before the node joins the groups) and builds the parts. Nothing
// talks to Kafka before Run.
func New(cfg Config) (*Node, error) {
	if cfg.HTTPAddr == "" {
		cfg.HTTPAddr = ":8080"
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 10 * time.Second
	}
	if cfg.NodeID == "" {
		cfg.NodeID = defaultNodeID()
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
		for _, c := range []prometheus.Collector{collectors.NewGoCollector(), collectors.NewBuildInfoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
			if err := cfg.Registry.Register(c); err != nil {
				return nil, fmt.Errorf("node: register metrics: %w", err)
			}
		}
	}
	settings := cluster.Settings{App: cfg.App, DataDir: cfg.DataDir, Partitioner: cfg.Partitioner, Sarama: cfg.Sarama,
		Logger: cfg.Logger, Registerer: cfg.Registry}.WithDefaults()
	if err := settings.Validate(); err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	settings.Logger = settings.Logger.With(slog.String("node", cfg.NodeID))
	cfg.App, cfg.DataDir, cfg.Partitioner, cfg.Sarama = settings.App, settings.DataDir, settings.Partitioner, settings.Sarama
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("node: listen on %s: %w", cfg.HTTPAddr, err)
	}
	n := &Node{cfg: cfg, settings: settings, ln: ln, registry: cfg.Registry, logger: settings.Logger}
	if err := n.build(); err != nil {
		ln.Close()
		return nil, err
	}
	return n, nil
}

func (n *Node) build() error {
	if len(n.cfg.Projections) > 0 {
		set, err := projection.NewSet(n.cfg.Projections...)
		if err != nil {
			return fmt.Errorf("node: %w", err)
		}
		// A projection's fold is an entity type of its own kind: its table,
		// standbys, replicas and queries come with it.
		n.projs = set
		n.cfg.Entities = append(slices.Clone(n.cfg.Entities), set.Tables()...)
	}
	cfg := n.cfg
	adv := cfg.AdvertiseURL
	if adv == "" {
		adv = n.scheme() + "://" + advertise(n.ln.Addr().(*net.TCPAddr))
	}
	role := cfg.Role
	if role == "" {
		role = interactive.RoleProcessor
	}
	if role != interactive.RoleProcessor && role != interactive.RoleReplica {
		return fmt.Errorf("node: role %q: want %s or %s", role, interactive.RoleProcessor, interactive.RoleReplica)
	}
	n.self = interactive.Member{ID: cfg.NodeID, URL: adv, Role: role}

	var own *interactive.Ownership
	// The roles the API serves: a processor owns partitions and fills them
	// all; a replica only keeps copies, so the API sends owner work
	// (current reads, commands, history) to the owners. Both append.
	backend := interactive.Backend{Producer: lazyProducer{n}, Records: lazyFetcher{n}}
	if len(cfg.Subscribers) > 0 || n.projs != nil {
		backend.Subscribers = nodeSubscribers{n}
	}
	if role == interactive.RoleProcessor {
		proc, err := n.buildProcessor(func() { own.Kick() })
		if err != nil {
			return err
		}
		n.proc, n.catalog = proc, proc
		backend.Catalog, backend.Standby = proc, proc
		backend.Owner, backend.Commander, backend.Historian, backend.Lag = proc, proc, proc, proc
	} else {
		v, err := view.New(cfg.Brokers, cfg.Entities, view.WithSettings(n.settings))
		if err != nil {
			return err
		}
		n.view, n.catalog = v, v
		backend.Catalog, backend.Standby = v, v
	}
	types := n.catalog.Types()
	groups := map[string]string{}
	pm, err := kafka.NewProducerMetrics(n.registry)
	if err != nil {
		return err
	}
	for _, t := range types {
		groups[t.Name()] = n.settings.Group(t.Name())
		pm.Watch(t.Topic())
	}
	n.prodMetrics = pm
	own = interactive.NewOwnership(cfg.Brokers, cfg.Sarama, groups, n.settings.ReplicaGroup(), cfg.OwnershipInterval, n.logger,
		interactive.WithMemberSecret(cfg.ClusterSecret))
	if err := n.registerOwnershipMetrics(own, types); err != nil {
		return err
	}

	iopts := []interactive.Option{interactive.WithSettings(n.settings), interactive.WithToken(cfg.Token),
		interactive.WithTokens(cfg.Tokens), interactive.WithClusterSecret(cfg.ClusterSecret), interactive.WithPeerTLS(cfg.PeerTLS)}
	if cfg.PeerCertRequired {
		if cfg.TLS == nil || cfg.TLS.ClientCAs == nil {
			return fmt.Errorf("node: %w: PeerCertRequired needs TLS with ClientCAs to verify the certificates", eventfold.ErrInvalid)
		}
		iopts = append(iopts, interactive.WithPeerCertRequired())
	}
	if cfg.LookupDeadline > 0 {
		iopts = append(iopts, interactive.WithLookupDeadline(cfg.LookupDeadline))
	}
	api, err := interactive.New(backend, own, n.self, iopts...)
	if err != nil {
		return err
	}
	n.own, n.api = own, api
	if len(cfg.Subscribers) > 0 || (n.projs != nil && n.proc != nil) {
		if n.subs, err = n.buildSubscribers(types); err != nil {
			return err
		}
	}
	return n.register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "eventfold_ready",
		Help: "1 while the node is ready for traffic (what /readyz says): partitions recovered, in the ownership map.",
	}, func() float64 {
		if api.Ready() != nil {
			return 0
		}
		return 1
	}))
}

// buildSubscribers builds the runner of the subscribers this node runs;
// their process managers send commands through this node's API.
func (n *Node) buildSubscribers(types []*entity.Type) (*subscriber.Runner, error) {
	cfg := n.cfg
	partitions := cfg.Partitions
	if partitions == 0 {
		partitions = 10 // the processor's default
	}
	opts := []subscriber.Option{
		subscriber.WithSettings(n.settings),
		subscriber.WithTopics(partitions, cfg.Replication),
		subscriber.WithCommander(n.api),
	}
	subs, only := cfg.Subscribers, cfg.RunSubscribers
	if n.projs != nil && n.proc != nil {
		// The re-keying stages are subscribers with a sink; they run on
		// every processor node.
		for _, s := range n.projs.Subscribers() {
			subs = append(slices.Clone(subs), s)
			if only != nil {
				only = append(slices.Clone(only), s.Name)
			}
		}
	}
	if only != nil {
		opts = append(opts, subscriber.WithOnly(only...))
	}
	return subscriber.New(cfg.Brokers, types, subs, append(opts, cfg.SubscriberOptions...)...)
}

// nodeSubscribers is the API's view of the node's subscribers.
type nodeSubscribers struct{ n *Node }

func (s nodeSubscribers) SubscriberStatus() any {
	if s.n.subs == nil {
		return []subscriber.Status{}
	}
	return s.n.subs.Status()
}

func (s nodeSubscribers) Pause(ctx context.Context, name string, paused bool) error {
	if s.n.subs == nil {
		return fmt.Errorf("%w: no subscribers", eventfold.ErrNotFound)
	}
	return s.n.subs.Pause(ctx, name, paused)
}

// memberData is what this node publishes in the groups: signed when the
// cluster has a secret.
func (n *Node) memberData() []byte {
	if n.cfg.ClusterSecret != nil {
		return n.self.Sign(n.cfg.ClusterSecret)
	}
	return n.self.Encode()
}

// register adds the node's own metrics: a clash (a registry shared with
// another node) is an error, not a panic.
func (n *Node) register(cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := n.registry.Register(c); err != nil {
			return fmt.Errorf("node: register metrics: %w", err)
		}
	}
	return nil
}

func (n *Node) buildProcessor(onAssign func()) (*processor.Processor, error) {
	cfg := n.cfg
	popts := []processor.Option{
		processor.WithSettings(n.settings),
		processor.WithMemberData(n.memberData()),
		processor.WithAssignmentHook(func(string, []int32) { onAssign() }),
	}
	if cfg.Partitions > 0 {
		popts = append(popts, processor.WithPartitions(cfg.Partitions))
	}
	if cfg.Replication > 0 {
		popts = append(popts, processor.WithReplication(cfg.Replication))
	}
	if cfg.HotStandby {
		popts = append(popts, processor.WithHotStandby())
	}
	if cfg.TopicPrefix != "" {
		popts = append(popts, processor.WithTopicPrefix(cfg.TopicPrefix))
	}
	if cfg.HistoryPageBytes != 0 {
		popts = append(popts, processor.WithHistoryPageBytes(cfg.HistoryPageBytes))
	}
	popts = append(popts, cfg.ProcessorOptions...)
	return processor.New(cfg.Brokers, cfg.Entities, popts...)
}

func (n *Node) registerOwnershipMetrics(own *interactive.Ownership, types []*entity.Type) error {
	cs := []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "eventfold_ownership_changes_total",
			Help: "Times the partition ownership map seen by this node changed.",
		}, func() float64 { return float64(own.Changes()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "eventfold_ownership_refresh_errors_total",
			Help: "Ownership map refreshes that failed (the map keeps its last state; forwards may go stale).",
		}, func() float64 { return float64(own.RefreshErrors()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "eventfold_ownership_members",
			Help: "Members in the ownership map seen by this node.",
		}, func() float64 { return float64(len(own.Snapshot().Members)) }),
	}
	for _, t := range types {
		name := t.Name()
		cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "eventfold_ownership_unowned_partitions",
			Help:        "Partitions of the entity type that no member owns, as this node sees the groups.",
			ConstLabels: prometheus.Labels{"entity": name},
		}, func() float64 {
			total := n.catalog.Partitions(name)
			if total == 0 {
				return 0
			}
			return float64(total - int32(len(own.Snapshot().Owners[name])))
		}))
	}
	return n.register(cs...)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// lazyProducer connects on first use, so nodes that never take writes never
// open a producer (and Run does not fail on it).
type lazyProducer struct{ n *Node }

func (l lazyProducer) Send(ctx context.Context, r kafka.Record) (kafka.Position, error) {
	p, err := l.n.getProducer()
	if err != nil {
		return kafka.Position{}, err
	}
	return p.Send(ctx, r)
}

func (n *Node) getProducer() (*kafka.Producer, error) {
	n.producerM.Lock()
	defer n.producerM.Unlock()
	if n.producer == nil {
		p, err := kafka.NewProducer(n.cfg.Brokers, n.cfg.Sarama, n.cfg.Partitioner, kafka.WithMetrics(n.prodMetrics))
		if err != nil {
			return nil, err
		}
		n.producer = p
	}
	return n.producer, nil
}

// lazyFetcher reads topics by offset for the API (the dead letters),
// connecting on first use.
type lazyFetcher struct{ n *Node }

func (l lazyFetcher) get() (*kafka.Fetcher, error) {
	l.n.fetcherM.Lock()
	defer l.n.fetcherM.Unlock()
	if l.n.fetcher == nil {
		f, err := kafka.NewFetcher(l.n.cfg.Brokers, l.n.cfg.Sarama)
		if err != nil {
			return nil, err
		}
		l.n.fetcher = f
	}
	return l.n.fetcher, nil
}

func (l lazyFetcher) Partitions(topic string) ([]int32, error) {
	f, err := l.get()
	if err != nil {
		return nil, err
	}
	return f.Partitions(topic)
}

func (l lazyFetcher) HighWaterMark(topic string, partition int32) (int64, error) {
	f, err := l.get()
	if err != nil {
		return 0, err
	}
	return f.HighWaterMark(topic, partition)
}

func (l lazyFetcher) ReadFrom(ctx context.Context, topic string, partition int32, offset int64, maxBytes int32, fn func(kafka.Fetched) bool) (int64, int64, error) {
	f, err := l.get()
	if err != nil {
		return offset, -1, err
	}
	return f.ReadFrom(ctx, topic, partition, offset, maxBytes, fn)
}

// Run serves and folds until ctx is cancelled, then shuts down gracefully:
// the HTTP server drains, the processor leaves its groups and commits.
func (n *Node) Run(ctx context.Context) error {
	mux := http.NewServeMux()
	var metrics http.Handler = promhttp.HandlerFor(n.registry, promhttp.HandlerOpts{Registry: n.registry})
	if n.cfg.MetricsNeedToken {
		metrics = n.api.Require(interactive.ScopeAdmin, metrics)
	}
	mux.Handle("/metrics", metrics)
	if !n.cfg.NoConsole {
		mux.Handle(console.Prefix, console.Handler())
		mux.Handle(strings.TrimSuffix(console.Prefix, "/"), http.RedirectHandler(console.Prefix, http.StatusMovedPermanently))
	}
	mux.Handle("/", n.api.Handler())
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    limits.HTTPHeaderBytes,
	}
	g, ctx := run.New(ctx)
	part := func(name string, fn func() error) {
		g.Go(func() error {
			if err := fn(); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			return nil
		})
	}
	if n.proc != nil {
		part("processor", func() error { return n.proc.Run(ctx) })
	} else {
		part("view", func() error { return n.view.Run(ctx) })
		part("announce", func() error { return interactive.Announce(ctx, n.cfg.Brokers, n.settings, n.memberData()) })
	}
	part("ownership", func() error { return n.own.Run(ctx) })
	if n.subs != nil {
		part("subscribers", func() error {
			if n.projs != nil && n.proc != nil {
				if err := n.projs.Open(n.cfg.Brokers, n.settings, n.catalog.Types()); err != nil {
					return err
				}
				// After the runner: its claims have ended and hand nothing more.
				defer n.projs.Close()
			}
			return n.subs.Run(ctx)
		})
	}
	part("http", func() error {
		serve := func() error { return srv.Serve(n.ln) }
		if n.cfg.TLS != nil {
			srv.TLSConfig = n.cfg.TLS.Clone()
			serve = func() error { return srv.ServeTLS(n.ln, "", "") }
		}
		if err := serve(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	n.logger.Info("node started", slog.String("url", n.self.URL), slog.String("app", n.cfg.App))
	if n.cfg.Token == "" && len(n.cfg.Tokens) == 0 && !loopback(n.ln.Addr()) {
		n.logger.Warn("the API needs no token and listens beyond loopback: anyone who reaches the port reads and writes every entity",
			slog.String("listen", n.ln.Addr().String()))
	}

	<-ctx.Done()
	sctx, scancel := context.WithTimeout(context.Background(), n.cfg.ShutdownTimeout)
	defer scancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	err := g.Wait()
	n.producerM.Lock()
	if n.producer != nil {
		n.producer.Close()
	}
	n.producerM.Unlock()
	n.fetcherM.Lock()
	if n.fetcher != nil {
		n.fetcher.Close()
	}
	n.fetcherM.Unlock()
	n.logger.Info("node stopped")
	return err
}

// ListenURL is the address the HTTP server listens on, as a URL.
func (n *Node) ListenURL() string { return n.scheme() + "://" + n.ln.Addr().String() }

func (n *Node) scheme() string {
	if n.cfg.TLS != nil {
		return "https"
	}
	return "http"
}

// URL is how other nodes and clients reach this node.
func (n *Node) URL() string { return n.self.URL }

// ID is the node id.
func (n *Node) ID() string { return n.self.ID }

// Subscribers is the node's subscriber runner (nil without subscribers).
func (n *Node) Subscribers() *subscriber.Runner { return n.subs }

// Processor is the node's processor (nil on a replica).
func (n *Node) Processor() *processor.Processor { return n.proc }

// View is the node's table replica (nil on a processor).
func (n *Node) View() *view.View { return n.view }

// Store is the catalog of the node's tables: its processor's or its view's.
func (n *Node) Store() interactive.Catalog { return n.catalog }

// Assigned returns the partitions of entity this node owns: none on a
// replica.
func (n *Node) Assigned(entity string) []int32 {
	if n.proc == nil {
		return nil
	}
	return n.proc.Assigned(entity)
}

// Role is the node's role.
func (n *Node) Role() interactive.Role { return n.self.Role }

// Ownership is the node's ownership map.
func (n *Node) Ownership() *interactive.Ownership { return n.own }

// Registry is the node's metrics registry.
func (n *Node) Registry() *prometheus.Registry { return n.registry }

func defaultNodeID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "node"
	}
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return host + "-" + hex.EncodeToString(b)
}

// advertise derives host:port from the listener: an unspecified host
// (":8080") becomes the first non-loopback IPv4 address, or 127.0.0.1.
func advertise(a *net.TCPAddr) string {
	ip := a.IP
	if ip == nil || ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
		if addrs, err := net.InterfaceAddrs(); err == nil {
			for _, ad := range addrs {
				if ipn, ok := ad.(*net.IPNet); ok && !ipn.IP.IsLoopback() && ipn.IP.To4() != nil {
					ip = ipn.IP
					break
				}
			}
		}
	}
	return net.JoinHostPort(ip.String(), fmt.Sprint(a.Port))
}

// loopback reports whether addr accepts connections from this host only.
func loopback(addr net.Addr) bool {
	tcp, ok := addr.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}
