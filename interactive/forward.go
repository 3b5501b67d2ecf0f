package interactive

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/eventfold/eventfold"
)

// Bounds of a forwarded answer's handling: an error answer is read whole up
// to maxErrorBody (for the retry decision); a success is checked for its
// first peekBytes before it is relayed, then streamed.
const (
	maxErrorBody = 64 << 10
	peekBytes    = 32 << 10
)

// forwardToOwner sends the request to the partition's owner; the answer is
// a relay. An error says the caller should try again (no owner known,
// owner unreachable, owner not (yet) owning or recovered), except
// eventfold.ErrOutcomeUnknown, which is final.
func (s *Server) forwardToOwner(r *http.Request, entityName, id string, body []byte) (any, error) {
	n := s.b.Catalog.Partitions(entityName)
	if n <= 0 {
		// A replica that has not found its tables yet knows no partition count.
		return nil, fmt.Errorf("%w: partition count of %s not known yet", eventfold.ErrNotRecovered, entityName)
	}
	part := s.cfg.Partitioner.Partition(id, n)
	owner, ok := s.own.Snapshot().Owner(entityName, part)
	if !ok || owner.ID == s.self.ID {
		// Unknown, or the map still says us while the processor says no: it is moving.
		s.own.Kick()
		return nil, fmt.Errorf("%w: no owner known for %s partition %d", eventfold.ErrUnavailable, entityName, part)
	}
	return s.forward(r, owner, forwardOpts{body: body})
}

// askReplicas forwards the read, as a standby read, to each replica node in
// turn; the first answer is relayed. Replicas answer only from their copy
// (never forward again) and apply the same max_lag.
func (s *Server) askReplicas(r *http.Request) (any, bool) {
	for _, m := range s.own.Snapshot().Replicas {
		if m.ID == s.self.ID {
			continue
		}
		if v, err := s.forward(r, m, forwardOpts{standby: true}); err == nil {
			return v, true
		}
	}
	return nil, false
}

type forwardOpts struct {
	standby bool   // ask for the target's standby copy
	body    []byte // the request body, already read
}

// forward sends the request to member once (hop header set). A definitive
// answer comes back as a *relay, which must be responded; an error is an
// answer worth trying elsewhere.
func (s *Server) forward(r *http.Request, to Member, o forwardOpts) (any, error) {
	standby := o.standby
	timeout := s.cfg.forwardTimeout
	var reqBody io.Reader
	if r.Method != http.MethodGet {
		reqBody = bytes.NewReader(o.body)
	}
	if q := r.URL.Query(); r.Method != http.MethodGet || q.Has("min_offset") || q.Has("min_source") {
		// The owner waits for its fold (a command's events, min_offset,
		// a projection's min_source).
		timeout = max(timeout, s.cfg.lookupDeadline+time.Second)
	}
	// The timeout bounds the wait for the answer's start (its headers and
	// first bytes), not the streaming of a large answer after it: that is
	// the client's pace, bounded by its request and the server's write
	// timeout. The relay cancels the context once streamed.
	ctx, cancel := context.WithCancel(r.Context())
	timer := time.AfterFunc(timeout, cancel)
	req, err := http.NewRequestWithContext(ctx, r.Method, to.URL+r.URL.RequestURI(), reqBody)
	if err != nil {
		timer.Stop()
		cancel()
		return nil, err
	}
	if standby {
		req.Header.Set(HeaderStandby, "1")
	}
	for _, h := range []string{"Content-Type", "If-Match", HeaderIdempotencyKey} {
		if v := r.Header.Get(h); v != "" {
			req.Header.Set(h, v)
		}
	}
	s.fromPeer(req)
	resp, err := s.client.Do(req)
	if err != nil {
		cancel()
		s.metrics.forwards.WithLabelValues("error").Inc()
		s.own.Kick()
		if r.Method != http.MethodGet && !dialFailed(err) {
			// A command the owner may have received and carried out: a
			// second attempt could come after the entity forgot the key and
			// turn an applied command into a 409. The client retries it
			// with the same Idempotency-Key.
			return nil, fmt.Errorf("%w: %s (%s) did not answer: %v", eventfold.ErrOutcomeUnknown, to.ID, to.URL, err)
		}
		return nil, fmt.Errorf("%w: %s (%s) unreachable: %v", eventfold.ErrUnavailable, to.ID, to.URL, err)
	}
	rl := &relay{resp: resp, from: to, cancel: cancel, logger: s.cfg.Logger}
	retry := resp.StatusCode == http.StatusMisdirectedRequest || resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusBadGateway
	if retry || (standby && resp.StatusCode != http.StatusOK) {
		defer rl.close()
		// Only the retry decision needs the body: a small JSON error.
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		s.metrics.forwards.WithLabelValues("retry").Inc()
		if !standby {
			s.own.Kick()
		}
		return nil, decodeError(resp.StatusCode, body)
	}
	// The answer is streamed through, never buffered whole. Its start is
	// read before anything is written, so an answer that breaks off early
	// (shorter than its Content-Length) is retried, not relayed.
	rl.body = bufio.NewReaderSize(resp.Body, peekBytes)
	want := peekBytes
	if resp.ContentLength >= 0 && resp.ContentLength < peekBytes {
		want = int(resp.ContentLength)
	}
	_, err = rl.body.Peek(want)
	if !timer.Stop() && err == nil {
		err = fmt.Errorf("no answer within the forward timeout %v", timeout)
	}
	if err != nil && !(resp.ContentLength < 0 && errors.Is(err, io.EOF)) {
		rl.close()
		s.metrics.forwards.WithLabelValues("error").Inc()
		if r.Method != http.MethodGet {
			return nil, fmt.Errorf("%w: the answer of %s (%s) broke off: %v", eventfold.ErrOutcomeUnknown, to.ID, to.URL, err)
		}
		return nil, fmt.Errorf("%w: the answer of %s (%s) broke off: %v", ErrBadGateway, to.ID, to.URL, err)
	}
	s.metrics.forwards.WithLabelValues("ok").Inc()
	if resp.Header.Get(HeaderStale) != "" {
		s.metrics.stale.WithLabelValues("relayed").Inc()
	}
	return rl, nil
}

// relay is another node's answer, its start read, the rest still in
// flight: respond streams it through.
type relay struct {
	resp   *http.Response
	body   *bufio.Reader
	from   Member
	cancel context.CancelFunc
	logger *slog.Logger
}

func (rl *relay) close() {
	rl.resp.Body.Close()
	rl.cancel()
}

func (rl *relay) respond(w http.ResponseWriter) {
	defer rl.close()
	resp := rl.resp
	for _, h := range []string{"Content-Type", HeaderServedBy, HeaderPartition, HeaderStale, HeaderLag} {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	if resp.ContentLength >= 0 {
		// A client reading fewer bytes than this knows the answer is cut.
		w.Header().Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
	}
	w.WriteHeader(resp.StatusCode)
	if n, err := io.Copy(w, rl.body); err != nil || (resp.ContentLength >= 0 && n != resp.ContentLength) {
		// Too late for another status: abort the connection, so the client
		// sees a broken answer instead of a complete-looking one.
		rl.logger.Warn("relaying an answer broke off", slog.String("from", rl.from.ID), slog.Int64("bytes", n), slog.Any("error", err))
		panic(http.ErrAbortHandler)
	}
}

// dialFailed reports whether a forward failed before its request could
// reach the other node (nothing was sent).
func dialFailed(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// fromPeer marks req as sent by this node to another (never forwarded
// again) and signs it with the cluster secret: no client token ever leaves
// this node, and the target checks that a node of the cluster sent it.
func (s *Server) fromPeer(req *http.Request) {
	req.Header.Set(HeaderHop, s.self.ID)
	if s.auth.secret != nil {
		req.Header.Set(HeaderPeer, s.auth.signPeer(s.self.ID, req.Method, req.URL.RequestURI(), time.Now()))
	}
}
