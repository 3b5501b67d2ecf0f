package interactive

import (
	"io"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventfold/eventfold/kafka"
	"github.com/eventfold/eventfold/limits"
)

// Option configures a Server.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	token          string
	maxBody        int64
	lookupDeadline time.Duration
	forwardTimeout time.Duration
	partitioner    kafka.Partitioner
	logger         *slog.Logger
	registerer     prometheus.Registerer
}

func defaultConfig() config {
	return config{
		maxBody:        limits.EventBytes,
		lookupDeadline: 5 * time.Second,
		forwardTimeout: 2 * time.Second,
		partitioner:    kafka.FNV1a,
		logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

// WithToken requires "Authorization: Bearer <token>" on every /v1 request,
// and sends it on forwards to other nodes. Default: no token.
func WithToken(token string) Option { return optionFunc(func(c *config) { c.token = token }) }

// WithMaxBodyBytes limits request bodies (events and commands); larger ones
// get 413 too_large. Default and maximum limits.EventBytes: a larger event
// could not be produced as one Kafka record, so New refuses a larger n.
func WithMaxBodyBytes(n int64) Option { return optionFunc(func(c *config) { c.maxBody = n }) }

// WithLookupDeadline bounds how long a read keeps retrying while no owner
// answers (rebalance, dead node) before it falls back to a standby copy or
// answers 503. Default 5s.
func WithLookupDeadline(d time.Duration) Option {
	return optionFunc(func(c *config) { c.lookupDeadline = d })
}

// WithForwardTimeout bounds one forward to an owner. Default 2s.
func WithForwardTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) { c.forwardTimeout = d })
}

// WithPartitioner must match the processor's. Default kafka.FNV1a.
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

// WithRegisterer registers the HTTP metrics. Default: none.
func WithRegisterer(r prometheus.Registerer) Option {
	return optionFunc(func(c *config) { c.registerer = r })
}
