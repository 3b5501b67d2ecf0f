package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/eventfold/eventfold/cluster"
	"github.com/eventfold/eventfold/demo"
	"github.com/eventfold/eventfold/demo/projections"
	"github.com/eventfold/eventfold/interactive"
	"github.com/eventfold/eventfold/limits"
	"github.com/eventfold/eventfold/node"
)

type serveFlags struct {
	kafka      kafkaFlags
	log        logFlags
	nodeID     string
	dataDir    string
	httpAddr   string
	advertise  string
	hotStandby bool
	role       string
	auth       httpAuthFlags
	https      httpsFlags
	lookup     time.Duration
	pageBytes  int
	subs       subscriberFlags
	projs      string
}

func (s *serveFlags) register(fs *flag.FlagSet) {
	s.kafka.register(fs)
	s.log.register(fs)
	fs.StringVar(&s.nodeID, "node-id", "", "node id in the membership (default: hostname + random suffix)")
	fs.StringVar(&s.dataDir, "data-dir", cluster.DefaultDataDir, "directory for the LevelDB tables; keep it on a persistent volume")
	fs.StringVar(&s.httpAddr, "http", ":8080", "HTTP listen address")
	fs.StringVar(&s.advertise, "advertise", "", "URL other nodes use to reach this one (default: derived from --http)")
	fs.BoolVar(&s.hotStandby, "hot-standby", false, "keep partitions owned by other nodes warm, for instant failover")
	fs.StringVar(&s.role, "role", "processor", "processor (owns partitions, folds events) or replica (read-only copies of the tables)")
	s.auth.register(fs)
	s.https.register(fs)
	s.subs.register(fs)
	fs.StringVar(&s.projs, "projections", "all", "the demo projections (customer-orders, users-by-role): all or none; every node of a cluster must say the same")
	fs.DurationVar(&s.lookup, "lookup-deadline", 5*time.Second, "how long a read retries while ownership moves")
	fs.IntVar(&s.pageBytes, "history-page-bytes", limits.HistoryPageBytes, "bound on the event payload bytes of one page of GET /v1/{entity}/{id}/events; a page ends early (at least one event) and \"next\" continues")
}

func (s *serveFlags) config() (node.Config, error) {
	if s.pageBytes < 1 {
		return node.Config{}, fmt.Errorf("--history-page-bytes=%d: want at least 1", s.pageBytes)
	}
	sc, part, err := s.kafka.sarama()
	if err != nil {
		return node.Config{}, err
	}
	logger, err := s.log.logger(os.Stderr)
	if err != nil {
		return node.Config{}, err
	}
	tokens, secret, err := s.auth.apply()
	if err != nil {
		return node.Config{}, err
	}
	cfg := node.Config{
		Brokers:          s.kafka.brokerList(),
		Entities:         demo.Entities(),
		App:              s.kafka.app,
		NodeID:           s.nodeID,
		DataDir:          s.dataDir,
		HTTPAddr:         s.httpAddr,
		AdvertiseURL:     s.advertise,
		Partitions:       int32(s.kafka.partitions),
		Replication:      int16(s.kafka.replication),
		HotStandby:       s.hotStandby,
		Role:             interactive.Role(s.role),
		TopicPrefix:      s.kafka.topicPrefix,
		Tokens:           tokens,
		ClusterSecret:    secret,
		MetricsNeedToken: s.auth.metricsNeedToken,
		Partitioner:      part,
		Sarama:           sc,
		Logger:           logger,
		LookupDeadline:   s.lookup,

		HistoryPageBytes: s.pageBytes,
	}
	switch s.projs {
	case "all":
		cfg.Projections = projections.All()
	case "none":
	default:
		return node.Config{}, fmt.Errorf("--projections=%q: want all or none", s.projs)
	}
	if err := s.https.apply(&cfg); err != nil {
		return node.Config{}, err
	}
	if err := s.subs.apply(&cfg); err != nil {
		return node.Config{}, err
	}
	return cfg, nil
}

func runServe(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var f serveFlags
	f.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s takes no arguments, got %q", fs.Name(), fs.Arg(0))
	}
	cfg, err := f.config()
	if err != nil {
		return err
	}
	if w := f.kafka.security.warning(); w != "" {
		cfg.Logger.Warn(w)
	}
	// A wrong password or an untrusted certificate stops the node here,
	// with a message that says which, instead of clients retrying forever.
	if err := f.kafka.probe(ctx, cfg.Sarama); err != nil {
		return err
	}
	cfg.Logger.Info("kafka reachable", slog.String("brokers", f.kafka.brokers), slog.String("security", f.kafka.applied.String()))
	n, err := node.New(cfg)
	if err != nil {
		return err
	}
	return n.Run(ctx)
}
