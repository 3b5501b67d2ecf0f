package checker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Served is an entity as a node serves it.
type Served struct {
	Version uint64          `json:"version"`
	Offset  int64           `json:"offset"`
	State   json.RawMessage `json:"state"`
}

// Listed is one event of a node's history listing.
type Listed struct {
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	Applied   bool   `json:"applied"`
	Version   uint64 `json:"version"`
}

// Node is what the checker asks of a node.
type Node interface {
	Name() string
	// Get returns the entity's current state; found is false for a 404.
	Get(ctx context.Context, typ, id string) (s Served, found bool, err error)
	// History lists all of the entity's events.
	History(ctx context.Context, typ, id string) ([]Listed, error)
	// StateAt returns the state after the entity's first n applied events.
	StateAt(ctx context.Context, typ, id string, n uint64) (Served, error)
}

// HTTPNode speaks eventfold's HTTP API (v1) with net/http and its own JSON
// structs.
type HTTPNode struct {
	ID, URL string
	Client  *http.Client // nil: a client with a 10 s timeout
}

func (n *HTTPNode) Name() string { return n.ID }

func (n *HTTPNode) client() *http.Client {
	if n.Client != nil {
		return n.Client
	}
	return &http.Client{Timeout: 10 * time.Second}
}

var errNotFound = errors.New("not found")

func (n *HTTPNode) getJSON(ctx context.Context, path string, q url.Values, v any) error {
	u := n.URL + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := n.client().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return json.Unmarshal(body, v)
	case http.StatusNotFound:
		return errNotFound
	}
	return fmt.Errorf("GET %s: %d %s", u, resp.StatusCode, body)
}

func (n *HTTPNode) Get(ctx context.Context, typ, id string) (Served, bool, error) {
	var s Served
	err := n.getJSON(ctx, "/v1/"+url.PathEscape(typ)+"/"+url.PathEscape(id), nil, &s)
	if errors.Is(err, errNotFound) {
		return Served{}, false, nil
	}
	return s, err == nil, err
}

func (n *HTTPNode) History(ctx context.Context, typ, id string) ([]Listed, error) {
	var out []Listed
	after := int64(-1)
	for page := 0; page < 10_000; page++ {
		var resp struct {
			Events []Listed `json:"events"`
			Next   *int64   `json:"next"`
		}
		q := url.Values{"limit": {"1000"}}
		if after >= 0 {
			q.Set("after", strconv.FormatInt(after, 10))
		}
		if err := n.getJSON(ctx, "/v1/"+url.PathEscape(typ)+"/"+url.PathEscape(id)+"/events", q, &resp); err != nil {
			return nil, err
		}
		out = append(out, resp.Events...)
		if resp.Next == nil {
			return out, nil
		}
		after = *resp.Next
	}
	return nil, errors.New("history: too many pages")
}

func (n *HTTPNode) StateAt(ctx context.Context, typ, id string, v uint64) (Served, error) {
	var s Served
	err := n.getJSON(ctx, "/v1/"+url.PathEscape(typ)+"/"+url.PathEscape(id), url.Values{"version": {strconv.FormatUint(v, 10)}}, &s)
	return s, err
}
