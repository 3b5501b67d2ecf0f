package interactive

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/gorilla/mux"

	"github.com/eventfold/eventfold"
	"github.com/eventfold/eventfold/limits"
)

// Response headers.
const (
	HeaderServedBy  = "Eventfold-Served-By"
	HeaderPartition = "Eventfold-Partition"
	HeaderStale     = "Eventfold-Stale"
	HeaderLag       = "Eventfold-Lag"
	// HeaderHop marks a forwarded request; a node never forwards it again.
	HeaderHop = "Eventfold-Hop"
	// HeaderStandby asks the receiving node for its standby copy only.
	HeaderStandby = "Eventfold-Standby"
)

// reservedEntities are the first path segments of routes with the shape
// of an entity's routes (GET /v1/{entity}, GET /v1/{entity}/{id}): no
// entity type may have one. "projections" is kept for the projection
// routes (docs/projections.md).
var reservedEntities = []string{"cluster", "deadletters", "projections", "subscribers", "whoami"}

// Server is the HTTP API of one node.
type Server struct {
	b       Backend
	own     *Ownership
	self    Member
	cfg     config
	client  *http.Client
	metrics *metrics
	auth    *authenticator
	handler http.Handler
}

// New builds the API over b, what this node holds. own tells who owns
// what; self is this node as published in the membership.
func New(b Backend, own *Ownership, self Member, opts ...Option) (*Server, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o.apply(&cfg)
	}
	cfg.Settings = cfg.Settings.WithDefaults()
	if b.Catalog == nil || b.Standby == nil || own == nil {
		return nil, fmt.Errorf("interactive: %w: catalog, standby reader and ownership are required", eventfold.ErrInvalid)
	}
	if self.ID == "" || self.URL == "" {
		return nil, fmt.Errorf("interactive: %w: self member needs an id and a url", eventfold.ErrInvalid)
	}
	if cfg.maxBody <= 0 || cfg.lookupDeadline <= 0 || cfg.forwardTimeout <= 0 {
		return nil, fmt.Errorf("interactive: %w: limits and timeouts must be positive", eventfold.ErrInvalid)
	}
	if cfg.peerCert && len(cfg.secret) == 0 {
		return nil, fmt.Errorf("interactive: %w: a required peer certificate needs a cluster secret (WithClusterSecret)", eventfold.ErrInvalid)
	}
	if len(cfg.tokens) > 0 && len(cfg.secret) == 0 {
		return nil, fmt.Errorf("interactive: %w: tokens need a cluster secret (WithClusterSecret): forwards between nodes authenticate with it, never with a client's token", eventfold.ErrInvalid)
	}
	for _, name := range reservedEntities {
		if _, ok := b.Catalog.Type(name); ok {
			return nil, fmt.Errorf("interactive: %w: an entity type may not be called %q: the route /v1/%s would shadow its reads or its list", eventfold.ErrInvalid, name, name)
		}
	}
	if cfg.maxBody > limits.EventBytes {
		return nil, fmt.Errorf("interactive: %w: max body %d bytes is above limits.EventBytes (%d): such an event cannot be produced", eventfold.ErrInvalid, cfg.maxBody, limits.EventBytes)
	}
	m, err := newMetrics(cfg.Registry())
	if err != nil {
		return nil, err
	}
	s := &Server{
		b: b, own: own, self: self, cfg: cfg,
		metrics: m,
		auth:    newAuthenticator(cfg.tokens, cfg.secret, cfg.peerCert),
		client: &http.Client{Transport: &http.Transport{
			Proxy:               nil, // forwards go to peers from the membership, never via a proxy
			TLSClientConfig:     cfg.peerTLS,
			DialContext:         (&net.Dialer{Timeout: time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        256,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     90 * time.Second,
		}},
	}
	r := mux.NewRouter()
	// Route on the encoded path: an id may hold "/" (sent as %2F), and
	// "x%2Fevents" is the entity "x/events", not x's history. s.target
	// unescapes the variables; forwards keep the encoded RequestURI.
	r.UseEncodedPath()
	r.Use(s.instrument, s.recoverPanics)
	v1 := r.PathPrefix("/v1").Subrouter()
	// Every /v1 route needs a read token at least (when tokens are set);
	// writes need a write token.
	v1.Use(func(next http.Handler) http.Handler { return s.require(ScopeRead, next) })
	v1.Handle("/cluster", s.wrap(s.cluster)).Methods(http.MethodGet)
	v1.Handle("/openapi.yaml", s.wrap(openAPI)).Methods(http.MethodGet)
	v1.Handle("/whoami", s.wrap(s.whoami)).Methods(http.MethodGet)
	// Before the entity routes: "subscribers", "cluster", "whoami" and
	// "deadletters" are not entity types here (New refuses them).
	v1.Handle("/cluster/partitions", s.wrap(s.clusterPartitions)).Methods(http.MethodGet)
	v1.Handle("/deadletters/{entity}", s.wrap(s.deadLetters)).Methods(http.MethodGet)
	v1.Handle("/subscribers", s.wrap(s.subscribers)).Methods(http.MethodGet)
	v1.Handle("/subscribers/{name}/{action:pause|resume}", s.require(ScopeAdmin, s.wrap(s.pauseSubscriber))).Methods(http.MethodPost)
	// Projections are served by the entity handlers (typeFor keeps the two
	// kinds apart).
	v1.Handle("/projections/{entity}", s.wrap(s.listEntities)).Methods(http.MethodGet)
	v1.Handle("/projections/{entity}/{id}", s.wrap(s.getEntity)).Methods(http.MethodGet)
	v1.Handle("/{entity}", s.wrap(s.listEntities)).Methods(http.MethodGet)
	v1.Handle("/{entity}/{id}", s.wrap(s.getEntity)).Methods(http.MethodGet)
	v1.Handle("/{entity}/{id}/events", s.require(ScopeWrite, s.wrapStatus(http.StatusAccepted, s.appendEvent))).Methods(http.MethodPost)
	v1.Handle("/{entity}/{id}/commands", s.require(ScopeWrite, s.wrap(s.command))).Methods(http.MethodPost)
	v1.Handle("/{entity}/{id}/events", s.wrap(s.history)).Methods(http.MethodGet)
	r.Handle("/healthz", s.wrap(func(*http.Request) (any, error) { return map[string]string{"status": "ok"}, nil }))
	r.Handle("/readyz", s.wrap(s.ready))
	r.NotFoundHandler = s.wrap(func(*http.Request) (any, error) {
		return nil, fmt.Errorf("%w: no such route", eventfold.ErrNotFound)
	})
	methodNotAllowed := s.wrap(func(*http.Request) (any, error) { return nil, errMethodNotAllowed })
	// Explicit fallbacks: mux reports a method mismatch as not found once a
	// NotFoundHandler is set.
	for _, path := range []string{"/cluster", "/openapi.yaml", "/whoami", "/cluster/partitions", "/deadletters/{entity}",
		"/subscribers", "/subscribers/{name}/{action:pause|resume}", "/{entity}/{id}", "/{entity}/{id}/events", "/{entity}/{id}/commands"} {
		v1.Handle(path, methodNotAllowed)
	}
	s.handler = r
	return s, nil
}

// Handler returns the HTTP handler; mount other routes (metrics) beside it.
func (s *Server) Handler() http.Handler { return s.handler }

// Self is this node's member record.
func (s *Server) Self() Member { return s.self }

// wrap adapts a handler that returns (any, error), as every route is: one
// place writes the answer and maps errors to status codes (writeError). A
// value that is a responder writes itself; any other is JSON.
func (s *Server) wrap(h func(*http.Request) (any, error)) http.Handler {
	return s.wrapStatus(http.StatusOK, h)
}

// wrapStatus is wrap with the status of a JSON value.
func (s *Server) wrapStatus(status int, h func(*http.Request) (any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := h(r)
		if err != nil {
			writeError(w, err)
			return
		}
		if rv, ok := v.(responder); ok {
			rv.respond(w)
			return
		}
		writeJSON(w, status, v)
	})
}

// recoverPanics turns a handler's panic into a logged 500 internal answer:
// a panic never leaves the client with an empty reply. (A panic after the
// answer's start was written aborts the connection instead.)
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw, ok := w.(*statusWriter)
		if !ok {
			sw = &statusWriter{ResponseWriter: w}
		}
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler { //nolint:errorlint // the net/http sentinel is compared, never wrapped
				panic(v)
			}
			s.cfg.Logger.Error("handler panicked", slog.String("method", r.Method), slog.String("path", short(r.URL.EscapedPath())),
				slog.Any("panic", v), slog.String("stack", string(debug.Stack())))
			if sw.status != 0 {
				panic(http.ErrAbortHandler)
			}
			writeJSON(sw, http.StatusInternalServerError, apiError{Error: "internal error", Code: CodeInternal})
		}()
		next.ServeHTTP(sw, r)
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (s *Server) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		route := "other"
		if cr := mux.CurrentRoute(r); cr != nil {
			if tpl, err := cr.GetPathTemplate(); err == nil {
				route = tpl
			}
		}
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		s.metrics.requests.WithLabelValues(route, strconv.Itoa(sw.status)).Observe(time.Since(start).Seconds())
	})
}

func (s *Server) ready(*http.Request) (any, error) {
	if err := s.Ready(); err != nil {
		return nil, err
	}
	return map[string]string{"status": "ready"}, nil
}

// Ready says whether the node should get traffic (what /readyz answers):
// nil once its partitions are recovered and it is in the ownership map.
func (s *Server) Ready() error {
	if !s.b.Catalog.Recovered() {
		return fmt.Errorf("%w: owned partitions are recovering", eventfold.ErrNotRecovered)
	}
	if _, ok := s.own.Snapshot().Members[s.self.ID]; !ok && s.self.Role != RoleReplica {
		return fmt.Errorf("%w: this node is not in the ownership map yet", eventfold.ErrNotRecovered)
	}
	return nil
}
