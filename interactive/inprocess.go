package interactive

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/eventfold/eventfold"
	"github.com/gorilla/mux"
)

// Command runs a command as POST /v1/{entity}/{id}/commands would, from
// inside the node (a process manager): the same checks, the same route to
// the owner (here or by one signed forward), with the write scope of the
// node itself. Errors match the eventfold sentinels, as the Client's do.
func (s *Server) Command(ctx context.Context, entityName, id string, body []byte, idempotencyKey string) error {
	path := "/v1/" + seg(entityName) + "/" + seg(id) + "/commands"
	req, err := http.NewRequestWithContext(context.WithValue(ctx, scopeKey{}, ScopeWrite), http.MethodPost, path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.RequestURI = path // forwards sign and send the request URI
	req.Header.Set("Content-Type", "application/json")
	if idempotencyKey != "" {
		req.Header.Set(HeaderIdempotencyKey, idempotencyKey)
	}
	var w recorder
	s.handler.ServeHTTP(&w, req)
	if w.status == 0 {
		w.status = http.StatusOK
	}
	resp := &http.Response{StatusCode: w.status, Body: io.NopCloser(&w.body)}
	var out CommandResponse
	return decodeBody(resp, &out)
}

// recorder keeps an in-process answer.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header {
	if r.header == nil {
		r.header = http.Header{}
	}
	return r.header
}

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}

// Subscribers is what a node runs of package subscriber, seen from the
// API: its statuses (JSON) and the pause switch. (interactive does not
// import subscriber, which folds with the processor's code.)
type Subscribers interface {
	SubscriberStatus() any
	Pause(ctx context.Context, name string, paused bool) error
}

func (s *Server) subscribers(*http.Request) (any, error) {
	if s.b.Subscribers == nil {
		return []struct{}{}, nil
	}
	return s.b.Subscribers.SubscriberStatus(), nil
}

// pauseSubscriber handles POST /v1/subscribers/{name}/pause and /resume.
func (s *Server) pauseSubscriber(r *http.Request) (any, error) {
	name, action := mux.Vars(r)["name"], mux.Vars(r)["action"]
	if _, err := parseQuery(r.URL.RawQuery); err != nil {
		return nil, err
	}
	if s.b.Subscribers == nil {
		return nil, errNoSubscriber(name)
	}
	if err := s.b.Subscribers.Pause(r.Context(), name, action == "pause"); err != nil {
		return nil, err
	}
	return map[string]any{"subscriber": name, "paused": action == "pause"}, nil
}

func errNoSubscriber(name string) error {
	return fmt.Errorf("%w: no subscriber %s", eventfold.ErrNotFound, short(name))
}
