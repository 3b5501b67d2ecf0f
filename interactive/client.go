package interactive

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client talks to any eventfold node. Errors answered by a node are
// *RemoteError values that match the eventfold sentinels with errors.Is.
type Client struct {
	base  string
	token string
	http  *http.Client
}

// Answer is a read's result with the response metadata.
type Answer struct {
	EntityResponse
	ServedBy string
	Stale    bool
}

// NewClient returns a client for the node at base (e.g. http://localhost:8080).
// token may be empty.
func NewClient(base, token string) *Client {
	return &Client{
		base:  strings.TrimRight(base, "/"),
		token: token,
		http:  &http.Client{Timeout: 30 * time.Second},
	}
}

// WithTLS makes the client trust what cfg says (RootCAs: a private CA of
// the nodes' HTTPS certificates) and returns it.
func (c *Client) WithTLS(cfg *tls.Config) *Client {
	c.http = &http.Client{Timeout: c.http.Timeout, Transport: &http.Transport{TLSClientConfig: cfg, Proxy: http.ProxyFromEnvironment}}
	return c
}

// Get reads the current state of entity id.
func (c *Client) Get(ctx context.Context, entityName, id string) (Answer, error) {
	return c.Read(ctx, entityName, id, nil)
}

// Read is Get with query parameters: consistency, max_lag, min_offset,
// version, as_of. Any other parameter, or one given twice, is 400 invalid.
func (c *Client) Read(ctx context.Context, entityName, id string, q url.Values) (Answer, error) {
	var a Answer
	path := "/v1/" + seg(entityName) + "/" + seg(id)
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	resp, err := c.do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return a, err
	}
	defer resp.Body.Close()
	if err := decodeBody(resp, &a.EntityResponse); err != nil {
		return a, err
	}
	a.ServedBy = resp.Header.Get(HeaderServedBy)
	a.Stale = resp.Header.Get(HeaderStale) == "true"
	return a, nil
}

// Append appends one event (JSON with a "type" field) to entity id.
func (c *Client) Append(ctx context.Context, entityName, id string, event []byte) (AppendResponse, error) {
	var out AppendResponse
	resp, err := c.do(ctx, http.MethodPost, "/v1/"+seg(entityName)+"/"+seg(id)+"/events", event)
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	return out, decodeBody(resp, &out)
}

// History returns a page of entity id's events after offset after (-1: from
// the start), at most limit (0: the server's default).
func (c *Client) History(ctx context.Context, entityName, id string, after int64, limit int) (HistoryResponse, error) {
	var out HistoryResponse
	q := url.Values{}
	if after >= 0 {
		q.Set("after", fmt.Sprint(after))
	}
	if limit > 0 {
		q.Set("limit", fmt.Sprint(limit))
	}
	path := "/v1/" + seg(entityName) + "/" + seg(id) + "/events"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	resp, err := c.do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	return out, decodeBody(resp, &out)
}

// ListOptions qualify Client.List.
type ListOptions struct {
	Prefix  string // only ids that start with it
	After   string // the Next of the previous page; "" for the first
	Limit   int    // 0: the server's default
	NoState bool   // ids and versions only
	Strong  bool   // consistency=strong: owners only, never standby copies
}

// Projection reads one key of a projection: GET /v1/projections/{name}/{key}.
func (c *Client) Projection(ctx context.Context, name, key string) (Answer, error) {
	var a Answer
	resp, err := c.do(ctx, http.MethodGet, "/v1/projections/"+seg(name)+"/"+seg(key), nil)
	if err != nil {
		return a, err
	}
	defer resp.Body.Close()
	if err := decodeBody(resp, &a.EntityResponse); err != nil {
		return a, err
	}
	a.ServedBy, a.Stale = resp.Header.Get(HeaderServedBy), resp.Header.Get(HeaderStale) == "true"
	return a, nil
}

// ListProjection reads one page of GET /v1/projections/{name}.
func (c *Client) ListProjection(ctx context.Context, name string, o ListOptions) (ListResponse, error) {
	return c.list(ctx, "/v1/projections/"+seg(name), o)
}

// List reads one page of GET /v1/{entity}.
func (c *Client) List(ctx context.Context, entityName string, o ListOptions) (ListResponse, error) {
	return c.list(ctx, "/v1/"+seg(entityName), o)
}

func (c *Client) list(ctx context.Context, path string, o ListOptions) (ListResponse, error) {
	var out ListResponse
	q := url.Values{}
	if o.Prefix != "" {
		q.Set("prefix", o.Prefix)
	}
	if o.After != "" {
		q.Set("after", o.After)
	}
	if o.Limit > 0 {
		q.Set("limit", fmt.Sprint(o.Limit))
	}
	if o.NoState {
		q.Set("state", "false")
	}
	if o.Strong {
		q.Set("consistency", "strong")
	}
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	return out, c.getJSON(ctx, path, &out)
}

// CommandOptions qualify Client.Command.
type CommandOptions struct {
	IfMatch        *uint64 // expected version
	IdempotencyKey string  // retry-safe command id
}

// Command sends a command (JSON with a "type" field) for entity id.
func (c *Client) Command(ctx context.Context, entityName, id string, cmd []byte, o CommandOptions) (CommandResponse, error) {
	var out CommandResponse
	hdr := map[string]string{}
	if o.IfMatch != nil {
		hdr["If-Match"] = fmt.Sprintf("%q", fmt.Sprint(*o.IfMatch))
	}
	if o.IdempotencyKey != "" {
		hdr[HeaderIdempotencyKey] = o.IdempotencyKey
	}
	resp, err := c.do(ctx, http.MethodPost, "/v1/"+seg(entityName)+"/"+seg(id)+"/commands", cmd, hdr)
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	return out, decodeBody(resp, &out)
}

// Cluster returns the node's view of the cluster.
func (c *Client) Cluster(ctx context.Context) (ClusterResponse, error) {
	var out ClusterResponse
	resp, err := c.do(ctx, http.MethodGet, "/v1/cluster", nil)
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	return out, decodeBody(resp, &out)
}

// ClusterPartitions returns the whole cluster's partition map, gathered
// by the node from every member (GET /v1/cluster/partitions).
func (c *Client) ClusterPartitions(ctx context.Context) (PartitionsResponse, error) {
	var out PartitionsResponse
	return out, c.getJSON(ctx, "/v1/cluster/partitions", &out)
}

// DeadLetters returns a page of entity's dead letters (GET
// /v1/deadletters/{entity}): after is the previous page's Next ("" for the
// first page), limit at most limits.DeadLetterPageItems (0: the server's
// default).
func (c *Client) DeadLetters(ctx context.Context, entityName, after string, limit int) (DeadLettersResponse, error) {
	var out DeadLettersResponse
	q := url.Values{}
	if after != "" {
		q.Set("after", after)
	}
	if limit > 0 {
		q.Set("limit", fmt.Sprint(limit))
	}
	path := "/v1/deadletters/" + seg(entityName)
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	return out, c.getJSON(ctx, path, &out)
}

// WhoAmI returns what the client's token allows (GET /v1/whoami).
func (c *Client) WhoAmI(ctx context.Context) (WhoAmIResponse, error) {
	var out WhoAmIResponse
	return out, c.getJSON(ctx, "/v1/whoami", &out)
}

func (c *Client) getJSON(ctx context.Context, path string, v any) error {
	resp, err := c.do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return decodeBody(resp, v)
}

func (c *Client) do(ctx context.Context, method, path string, body []byte, headers ...map[string]string) (*http.Response, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, r)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for _, h := range headers {
		for k, v := range h {
			req.Header.Set(k, v)
		}
	}
	return c.http.Do(req)
}

// seg escapes one path segment: "/" as %2F (the server routes on the
// encoded path), and "." and ".." as %2E, which a path would otherwise
// resolve away.
func seg(s string) string {
	if s == "." || s == ".." {
		return strings.Repeat("%2E", len(s))
	}
	return url.PathEscape(s)
}

func decodeBody(resp *http.Response, v any) error {
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		return decodeError(resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("interactive: decode answer: %w", err)
	}
	return nil
}

// Subscribers returns the node's subscribers' status (GET /v1/subscribers)
// as JSON: a list of subscriber.Status.
func (c *Client) Subscribers(ctx context.Context) (json.RawMessage, error) {
	var out json.RawMessage
	resp, err := c.do(ctx, http.MethodGet, "/v1/subscribers", nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return out, decodeBody(resp, &out)
}

// PauseSubscriber pauses (or resumes) subscriber name on every node.
func (c *Client) PauseSubscriber(ctx context.Context, name string, paused bool) error {
	action := "resume"
	if paused {
		action = "pause"
	}
	resp, err := c.do(ctx, http.MethodPost, "/v1/subscribers/"+seg(name)+"/"+action, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var out map[string]any
	return decodeBody(resp, &out)
}

// For returns a client of another node (a member's URL) with the same
// token and TLS settings.
func (c *Client) For(base string) *Client {
	cp := *c
	cp.base = strings.TrimRight(base, "/")
	return &cp
}
