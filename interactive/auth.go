package interactive

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/eventfold/eventfold"
)

// Scope is what a token allows; each scope includes the ones before it.
type Scope uint8

const (
	// ScopeRead: GET of entities, histories, the cluster map, the API
	// description.
	ScopeRead Scope = iota + 1
	// ScopeWrite: appending events and running commands, and reading.
	ScopeWrite
	// ScopeAdmin: everything, including /metrics when it is behind a token.
	ScopeAdmin
)

var scopeNames = map[string]Scope{"read": ScopeRead, "write": ScopeWrite, "admin": ScopeAdmin}

func (s Scope) String() string {
	for n, v := range scopeNames {
		if v == s {
			return n
		}
	}
	return "scope(" + strconv.Itoa(int(s)) + ")"
}

// ParseScope accepts read, write and admin.
func ParseScope(s string) (Scope, error) {
	if v, ok := scopeNames[strings.ToLower(strings.TrimSpace(s))]; ok {
		return v, nil
	}
	return 0, fmt.Errorf("%w: scope %q, want read, write or admin", eventfold.ErrInvalid, s)
}

// Tokens maps bearer tokens to their scopes.
type Tokens map[string]Scope

// ParseTokens reads a tokens file: one "<scope> <token>" per line, blank
// lines and lines starting with # ignored. A token is at least 16 bytes.
func ParseTokens(r io.Reader) (Tokens, error) {
	out := Tokens{}
	sc := bufio.NewScanner(r)
	for ln := 1; sc.Scan(); ln++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		scope, token, ok := strings.Cut(line, " ")
		token = strings.TrimSpace(token)
		if !ok || token == "" {
			return nil, fmt.Errorf("%w: tokens line %d: want \"<scope> <token>\"", eventfold.ErrInvalid, ln)
		}
		s, err := ParseScope(scope)
		if err != nil {
			return nil, fmt.Errorf("tokens line %d: %w", ln, err)
		}
		if len(token) < minTokenBytes {
			return nil, fmt.Errorf("%w: tokens line %d: a token of %d bytes, want at least %d", eventfold.ErrInvalid, ln, len(token), minTokenBytes)
		}
		out[token] = s
	}
	return out, sc.Err()
}

// minTokenBytes keeps guessable tokens out of tokens files.
const minTokenBytes = 16

// HeaderPeer authenticates a forward from another node of the cluster:
// "<node id> <unix ms> <hex HMAC-SHA256>" over the request, keyed with the
// cluster secret. Client tokens never travel between nodes.
const HeaderPeer = "Eventfold-Peer"

// peerWindow bounds how old (or early) a peer signature may be.
const peerWindow = 30 * time.Second

// authenticator checks the credentials of a request.
type authenticator struct {
	tokens   []tokenHash // empty: no client authentication
	secret   []byte      // the cluster secret; nil: unsigned membership
	peerCert bool        // a peer must also show a verified client certificate
}

type tokenHash struct {
	sum   [sha256.Size]byte
	scope Scope
}

func newAuthenticator(tokens Tokens, secret []byte, peerCert bool) *authenticator {
	a := &authenticator{secret: secret, peerCert: peerCert}
	for t, s := range tokens {
		a.tokens = append(a.tokens, tokenHash{sha256.Sum256([]byte(t)), s})
	}
	return a
}

func (a *authenticator) enabled() bool { return len(a.tokens) > 0 }

// scope returns what the request may do: a valid peer signature is a node
// of the cluster forwarding what it authorised; else one bearer token.
// Errors: ErrUnauthorized, and ErrInvalid for several Authorization
// headers (which one would count is ambiguous across proxies).
func (a *authenticator) scope(r *http.Request) (Scope, error) {
	if p := r.Header.Values(HeaderPeer); len(p) > 0 && a.secret != nil {
		if a.peerCert && (r.TLS == nil || len(r.TLS.VerifiedChains) == 0) {
			return 0, fmt.Errorf("%w: a forward without a verified client certificate", ErrUnauthorized)
		}
		if len(p) == 1 && a.verifyPeer(r, p[0], time.Now()) {
			return ScopeAdmin, nil
		}
		return 0, fmt.Errorf("%w: bad peer signature", ErrUnauthorized)
	}
	h := r.Header.Values("Authorization")
	switch {
	case len(h) > 1:
		return 0, fmt.Errorf("%w: %d Authorization headers, want one", eventfold.ErrInvalid, len(h))
	case len(h) == 0:
		return 0, fmt.Errorf("%w: no bearer token", ErrUnauthorized)
	}
	scheme, token, _ := strings.Cut(strings.TrimSpace(h[0]), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return 0, fmt.Errorf("%w: not a bearer token", ErrUnauthorized)
	}
	// Hashes have one length: the comparison takes the same time whatever
	// the token's length, and every configured token is compared.
	sum := sha256.Sum256([]byte(strings.TrimSpace(token)))
	var found Scope
	for _, t := range a.tokens {
		if subtle.ConstantTimeCompare(sum[:], t.sum[:]) == 1 {
			found = t.scope
		}
	}
	if found == 0 {
		return 0, fmt.Errorf("%w: unknown bearer token", ErrUnauthorized)
	}
	return found, nil
}

// signPeer is the HeaderPeer value of a forward from node id.
func (a *authenticator) signPeer(id, method, uri string, now time.Time) string {
	ts := strconv.FormatInt(now.UnixMilli(), 10)
	return id + " " + ts + " " + hex.EncodeToString(peerMAC(a.secret, id, ts, method, uri))
}

func (a *authenticator) verifyPeer(r *http.Request, v string, now time.Time) bool {
	f := strings.Fields(v)
	if len(f) != 3 {
		return false
	}
	ms, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return false
	}
	if d := now.Sub(time.UnixMilli(ms)); d > peerWindow || d < -peerWindow {
		return false
	}
	got, err := hex.DecodeString(f[2])
	if err != nil {
		return false
	}
	return hmac.Equal(got, peerMAC(a.secret, f[0], f[1], r.Method, r.URL.RequestURI()))
}

func peerMAC(secret []byte, id, ts, method, uri string) []byte {
	m := hmac.New(sha256.New, secret)
	for _, s := range []string{"eventfold-peer", id, ts, method, uri} {
		m.Write([]byte(s))
		m.Write([]byte{0})
	}
	return m.Sum(nil)
}

// scopeKey holds, in a request's context, the scope its credentials
// allow: authenticate puts it there once per request.
type scopeKey struct{}

// require wraps next so that it runs only for requests whose credentials
// allow at least scope (401 without, 403 with too small a scope). The
// credentials are checked once: an inner require reads the scope an outer
// one found.
func (s *Server) require(scope Scope, next http.Handler) http.Handler {
	if !s.auth.enabled() {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := r.Context().Value(scopeKey{}).(Scope)
		if !ok {
			var err error
			if got, err = s.auth.scope(r); err != nil {
				writeError(w, err)
				return
			}
			r = r.WithContext(context.WithValue(r.Context(), scopeKey{}, got))
		}
		if got < scope {
			writeError(w, fmt.Errorf("%w: a %s token, this needs %s", ErrForbidden, got, scope))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Require is require for handlers outside the API (node's /metrics).
func (s *Server) Require(scope Scope, next http.Handler) http.Handler { return s.require(scope, next) }

// WhoAmIResponse is the body of GET /v1/whoami: what the caller's
// credentials allow.
type WhoAmIResponse struct {
	Scope string `json:"scope"` // read, write or admin
	// Auth is false when the API takes no tokens: anyone who reaches it
	// may do everything (scope admin).
	Auth bool `json:"auth"`
}

// whoami handles GET /v1/whoami (an ops console shows itself read-only
// for a read token).
func (s *Server) whoami(r *http.Request) (any, error) {
	if _, err := parseQuery(r.URL.RawQuery); err != nil {
		return nil, err
	}
	if !s.auth.enabled() {
		return WhoAmIResponse{Scope: ScopeAdmin.String(), Auth: false}, nil
	}
	got, ok := r.Context().Value(scopeKey{}).(Scope)
	if !ok {
		// /v1 checks the credentials first; should a route skip that, check here.
		var err error
		if got, err = s.auth.scope(r); err != nil {
			return nil, err
		}
	}
	return WhoAmIResponse{Scope: got.String(), Auth: true}, nil
}
