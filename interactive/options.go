package interactive

import (
	"time"

	"github.com/eventfold/eventfold/cluster"
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
	cluster.Settings
}

func defaultConfig() config {
	return config{
		maxBody:        limits.EventBytes,
		lookupDeadline: 5 * time.Second,
		forwardTimeout: 2 * time.Second,
		Settings:       cluster.Settings{}.WithDefaults(),
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

// WithSettings sets the cluster-wide settings: the partitioner (the
// processors'), the logger and the registerer of the HTTP metrics. Zero
// fields take the defaults.
func WithSettings(s cluster.Settings) Option { return optionFunc(func(c *config) { c.Settings = s }) }
