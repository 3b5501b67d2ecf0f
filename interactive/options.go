package interactive

import (
	"crypto/tls"
	"time"

	"github.com/eventfold/eventfold/cluster"
	"github.com/eventfold/eventfold/limits"
)

// Option configures a Server.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	tokens         Tokens
	secret         []byte
	peerTLS        *tls.Config
	peerCert       bool // forwards must come with a verified client certificate
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

// WithToken requires "Authorization: Bearer <token>" on every /v1 request;
// token has the admin scope. Tokens need a cluster secret
// (WithClusterSecret). Default: no token.
func WithToken(token string) Option {
	return optionFunc(func(c *config) {
		if token != "" {
			c.tokens = mergeTokens(c.tokens, Tokens{token: ScopeAdmin})
		}
	})
}

// WithTokens adds scoped bearer tokens (ParseTokens reads them from a
// file). Default: none, and then /v1 needs no token.
func WithTokens(t Tokens) Option {
	return optionFunc(func(c *config) { c.tokens = mergeTokens(c.tokens, t) })
}

func mergeTokens(a, b Tokens) Tokens {
	out := Tokens{}
	for t, s := range a {
		out[t] = s
	}
	for t, s := range b {
		out[t] = s
	}
	return out
}

// WithPeerTLS is the TLS configuration of forwards to other nodes (whose
// member URLs are https://): the CA their certificates are checked
// against (RootCAs) and, for mutual TLS, this node's client certificate.
// Default: the system's roots, no client certificate.
func WithPeerTLS(c *tls.Config) Option { return optionFunc(func(cfg *config) { cfg.peerTLS = c }) }

// WithPeerCertRequired accepts a forward (a request with a peer
// signature) only over a connection whose client certificate the server's
// TLS configuration verified (mutual TLS between nodes, on top of the
// cluster secret).
func WithPeerCertRequired() Option { return optionFunc(func(cfg *config) { cfg.peerCert = true }) }

// WithClusterSecret is the secret the nodes of a cluster share (not a
// client token): the membership is signed with it and only verified
// members are forwarded to, and forwards carry a signature made with it
// (HeaderPeer) instead of any token. Default: none (membership unsigned).
func WithClusterSecret(secret []byte) Option {
	return optionFunc(func(c *config) { c.secret = secret })
}

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
