package interactive

import (
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gorilla/mux"

	"github.com/eventfold/eventfold"
	"github.com/eventfold/eventfold/entity"
	"github.com/eventfold/eventfold/limits"
	"github.com/eventfold/eventfold/projection/progress"
)

// Everything a request carries is checked here, where it enters: the path
// variables, the query, the If-Match and Idempotency-Key headers, the body.
// Error messages quote input through short, never whole.

// short quotes at most a short prefix of s, so an error message never echoes
// a huge or hostile input.
func short(s string) string {
	const max = 64
	if len(s) <= max {
		return strconv.Quote(s)
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + fmt.Sprintf("... (%d bytes)", len(s))
}

// validateID is the one check of an entity id (the Kafka record key): not
// empty, at most limits.IDBytes, valid UTF-8, no control characters.
func validateID(id string) error {
	if id == "" {
		return fmt.Errorf("%w: empty id", eventfold.ErrInvalid)
	}
	return validateIDText("id", id)
}

// validateIDText checks what may be an id or a part of one (what names it
// in the error): at most limits.IDBytes, valid UTF-8, no control
// characters.
func validateIDText(what, s string) error {
	switch {
	case len(s) > limits.IDBytes:
		return fmt.Errorf("%w: %s of %d bytes, the limit is %d", eventfold.ErrInvalid, what, len(s), limits.IDBytes)
	case !utf8.ValidString(s):
		return fmt.Errorf("%w: %s %s is not valid UTF-8", eventfold.ErrInvalid, what, short(s))
	}
	for _, c := range s {
		if unicode.IsControl(c) {
			return fmt.Errorf("%w: %s %s contains the control character %U", eventfold.ErrInvalid, what, short(s), c)
		}
	}
	return nil
}

// target returns the route's entity type and id. The router matches the
// encoded path (Router.UseEncodedPath), so an id may contain "/" (sent as
// %2F); the variables are unescaped here, once, for every route.
func (s *Server) target(r *http.Request) (typ *entity.Type, entityName, id string, err error) {
	v := mux.Vars(r)
	entityName, err = url.PathUnescape(v["entity"])
	if err != nil {
		return nil, "", "", fmt.Errorf("%w: entity type %s is not a valid path segment", eventfold.ErrInvalid, short(v["entity"]))
	}
	typ, err = s.typeFor(r, entityName)
	if err != nil {
		return nil, "", "", err
	}
	id, err = url.PathUnescape(v["id"])
	if err != nil {
		return nil, "", "", fmt.Errorf("%w: id %s is not a valid path segment", eventfold.ErrInvalid, short(v["id"]))
	}
	if err := validateID(id); err != nil {
		return nil, "", "", err
	}
	return typ, entityName, id, nil
}

// projectionsPrefix starts the routes of projections; the same handlers
// serve entities under /v1/{entity}.
const projectionsPrefix = "/v1/projections/"

// typeFor finds the route's type: an entity type under /v1/{entity}, a
// projection under /v1/projections/{name}, never the other (a projection
// takes no appends or commands; its table is written by its re-keying).
func (s *Server) typeFor(r *http.Request, name string) (*entity.Type, error) {
	typ, ok := s.b.Catalog.Type(name)
	projRoute := strings.HasPrefix(r.URL.Path, projectionsPrefix)
	switch {
	case ok && projRoute && typ.Kind() != entity.KindProjection:
		return nil, fmt.Errorf("%w: %s is an entity type, not a projection: /v1/%s", eventfold.ErrNotFound, short(name), name)
	case ok && !projRoute && typ.Kind() == entity.KindProjection:
		return nil, fmt.Errorf("%w: %s is a projection: /v1/projections/%s", eventfold.ErrNotFound, short(name), name)
	case !ok && projRoute:
		return nil, fmt.Errorf("%w: unknown projection %s", eventfold.ErrNotFound, short(name))
	case !ok:
		return nil, fmt.Errorf("%w: unknown entity type %s", eventfold.ErrNotFound, short(name))
	}
	return typ, nil
}

// parseQuery parses a raw query strictly: a malformed pair (a bad escape, a
// ";") is an error rather than silently dropped, and so is a parameter the
// route does not know or a repeated one (which of two values would win is
// not the client's guess to make).
func parseQuery(raw string, known ...string) (url.Values, error) {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: malformed query: %v", eventfold.ErrInvalid, shortErr(err))
	}
	for k, vs := range q {
		found := false
		for _, n := range known {
			if k == n {
				found = true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("%w: unknown query parameter %s (this route takes %s)", eventfold.ErrInvalid, short(k), strings.Join(known, ", "))
		}
		if len(vs) > 1 {
			return nil, fmt.Errorf("%w: query parameter %s given %d times", eventfold.ErrInvalid, k, len(vs))
		}
	}
	return q, nil
}

// shortErr bounds the text of an error that may quote its input.
func shortErr(err error) string {
	msg := err.Error()
	if len(msg) > 200 {
		return short(msg)
	}
	return msg
}

// Query parameters by route.
var (
	readParams    = []string{"consistency", "max_lag", "min_offset", "version", "as_of", "min_source"}
	historyParams = []string{"after", "limit"}
	commandParams = []string{"expected_version"}
)

// readOptions are a read's consistency requirements.
type readOptions struct {
	strong    bool      // consistency=strong: only the owner may answer
	maxLag    int64     // max_lag=N: a standby may answer if at most N records behind; -1: any
	minOffset int64     // min_offset=N: the owner answers once its fold passed offset N; -1: none
	version   uint64    // version=N: the state after N applied events (history)
	asOf      time.Time // as_of=T: the state after the events up to T (history)
	hasAsOf   bool      // as_of was given: any time, the zero time too, is a point in time
	// min_source=<entity>:<partition>:<offset> (projections): the owner
	// answers once every input of that source event is folded.
	minSource *sourcePosition
}

type sourcePosition struct {
	entity    string
	partition int32
	offset    int64
}

// pointInTime reports whether the read asks for a past state.
func (o readOptions) pointInTime() bool { return o.version > 0 || o.hasAsOf }

func parseReadOptions(rawQuery string) (readOptions, error) {
	o := readOptions{maxLag: -1, minOffset: -1}
	q, err := parseQuery(rawQuery, readParams...)
	if err != nil {
		return o, err
	}
	switch c := q.Get("consistency"); c {
	case "", "eventual":
	case "strong":
		o.strong = true
	default:
		return o, fmt.Errorf("%w: consistency=%s, want strong or eventual", eventfold.ErrInvalid, short(c))
	}
	if q.Has("max_lag") {
		v := q.Get("max_lag")
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return o, fmt.Errorf("%w: max_lag=%s, want a number >= 0", eventfold.ErrInvalid, short(v))
		}
		o.maxLag = n
	}
	if q.Has("min_source") {
		e, p, off, err := progress.ParseSource(q.Get("min_source"))
		if err != nil {
			return o, fmt.Errorf("%w: %s", eventfold.ErrInvalid, short(err.Error()))
		}
		o.minSource, o.strong = &sourcePosition{e, p, off}, true
	}
	if q.Has("min_offset") {
		v := q.Get("min_offset")
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return o, fmt.Errorf("%w: min_offset=%s, want an offset >= 0", eventfold.ErrInvalid, short(v))
		}
		// Read-your-writes is the owner's promise; a standby cannot make it.
		o.minOffset, o.strong = n, true
	}
	if q.Has("version") {
		v := q.Get("version")
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n < 1 {
			return o, fmt.Errorf("%w: version=%s, want a version >= 1", eventfold.ErrInvalid, short(v))
		}
		o.version, o.strong = n, true
	}
	if q.Has("as_of") {
		v := q.Get("as_of")
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return o, fmt.Errorf("%w: as_of=%s, want an RFC 3339 time", eventfold.ErrInvalid, short(v))
		}
		if o.version > 0 {
			return o, fmt.Errorf("%w: give version or as_of, not both", eventfold.ErrInvalid)
		}
		o.asOf, o.hasAsOf, o.strong = t, true, true
	}
	return o, nil
}

// historyQuery is the query of GET /v1/{entity}/{id}/events.
type historyQuery struct {
	after int64 // -1: from the start
	limit int
}

func parseHistoryQuery(rawQuery string) (historyQuery, error) {
	h := historyQuery{after: -1, limit: defaultHistoryPage}
	q, err := parseQuery(rawQuery, historyParams...)
	if err != nil {
		return h, err
	}
	if q.Has("after") {
		a := q.Get("after")
		n, err := strconv.ParseInt(a, 10, 64)
		if err != nil || n < 0 {
			return h, fmt.Errorf("%w: after=%s, want an offset", eventfold.ErrInvalid, short(a))
		}
		h.after = n
	}
	if q.Has("limit") {
		l := q.Get("limit")
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > limits.HistoryPageEvents {
			return h, fmt.Errorf("%w: limit=%s, want 1..%d", eventfold.ErrInvalid, short(l), limits.HistoryPageEvents)
		}
		h.limit = n
	}
	return h, nil
}

// parseIfMatch parses an If-Match header for the command's version check.
// present is false without the header. A present header must be exactly
// one strong entity tag holding a decimal version ("3"), or "*" (the
// entity must exist: version >= 1); anything else is 400. A weak tag
// (W/"3") is well-formed but never matches: If-Match uses the strong
// comparison (RFC 9110 §13.1.1), so the command gets 409 conflict with the
// current version, as for any failed comparison.
func parseIfMatch(h http.Header) (o ifMatch, err error) {
	vals := h.Values("If-Match")
	if len(vals) == 0 {
		return o, nil
	}
	o.present = true
	if len(vals) > 1 {
		return o, fmt.Errorf("%w: %d If-Match headers, want one", eventfold.ErrInvalid, len(vals))
	}
	raw := vals[0]
	if raw == "*" {
		o.any = true
		return o, nil
	}
	tag := raw
	if strings.HasPrefix(tag, "W/") {
		o.weak = true
		tag = tag[2:]
	}
	if len(tag) < 3 || tag[0] != '"' || tag[len(tag)-1] != '"' {
		return o, fmt.Errorf("%w: If-Match %s, want one quoted version (\"3\") or *", eventfold.ErrInvalid, short(raw))
	}
	digits := tag[1 : len(tag)-1]
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return o, fmt.Errorf("%w: If-Match %s, want one quoted version (\"3\") or *", eventfold.ErrInvalid, short(raw))
		}
	}
	v, err := strconv.ParseUint(digits, 10, 64)
	if err != nil {
		return o, fmt.Errorf("%w: If-Match %s, want one quoted version (\"3\") or *", eventfold.ErrInvalid, short(raw))
	}
	o.version = v
	return o, nil
}

// ifMatch is a parsed If-Match header.
type ifMatch struct {
	present bool
	any     bool   // *: the entity must exist
	weak    bool   // W/"n": never matches (strong comparison)
	version uint64 // the quoted version
}

// commandOptions reads a command's Idempotency-Key, If-Match and
// expected_version (decimal only; it must agree with If-Match when both
// are given).
func commandOptions(h http.Header, rawQuery string) (entity.CommandOptions, error) {
	var o entity.CommandOptions
	if keys := h.Values(HeaderIdempotencyKey); len(keys) > 1 {
		return o, fmt.Errorf("%w: %d %s headers, want one", eventfold.ErrInvalid, len(keys), HeaderIdempotencyKey)
	}
	o.ID = h.Get(HeaderIdempotencyKey)
	if len(o.ID) > limits.IdempotencyKeyBytes {
		return o, fmt.Errorf("%w: %s of %d bytes, the limit is %d", eventfold.ErrInvalid, HeaderIdempotencyKey, len(o.ID), limits.IdempotencyKeyBytes)
	}
	if err := validateKey(o.ID); err != nil {
		return o, err
	}
	im, err := parseIfMatch(h)
	if err != nil {
		return o, err
	}
	q, err := parseQuery(rawQuery, commandParams...)
	if err != nil {
		return o, err
	}
	if q.Has("expected_version") {
		raw := q.Get("expected_version")
		ev, err := strconv.ParseUint(raw, 10, 64)
		if err != nil || raw == "" || raw[0] == '+' {
			return o, fmt.Errorf("%w: expected_version=%s is not a version", eventfold.ErrInvalid, short(raw))
		}
		if im.present && (im.any || im.weak || im.version != ev) {
			return o, fmt.Errorf("%w: If-Match %s and expected_version=%d disagree", eventfold.ErrInvalid, short(h.Get("If-Match")), ev)
		}
		o.ExpectedVersion = &ev
		return o, nil
	}
	switch {
	case !im.present:
	case im.any:
		o.MustExist = true
	case im.weak:
		// No version is 2^64-1 (that many events cannot be appended), so
		// the comparison fails with the current version, as it must.
		never := uint64(math.MaxUint64)
		o.ExpectedVersion = &never
	default:
		v := im.version
		o.ExpectedVersion = &v
	}
	return o, nil
}

// validateKey checks an Idempotency-Key: valid UTF-8 without control
// characters (it is stored and echoed as the command id).
func validateKey(k string) error {
	if !utf8.ValidString(k) {
		return fmt.Errorf("%w: %s is not valid UTF-8", eventfold.ErrInvalid, HeaderIdempotencyKey)
	}
	for _, c := range k {
		if unicode.IsControl(c) {
			return fmt.Errorf("%w: %s contains the control character %U", eventfold.ErrInvalid, HeaderIdempotencyKey, c)
		}
	}
	return nil
}

// readBody reads an event or command body: Content-Type application/json
// (parameters allowed) else 415, at most limit bytes else 413, valid UTF-8
// else 400. Requiring JSON also keeps cross-site "simple" POSTs (form or
// text/plain, sent without a CORS preflight) out.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return nil, fmt.Errorf("%w: Content-Type %s, want application/json", ErrUnsupportedMediaType, short(ct))
	}
	if r.ContentLength > limit {
		return nil, fmt.Errorf("%w: body of %d bytes, the limit is %d", ErrTooLarge, r.ContentLength, limit)
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, fmt.Errorf("%w: the limit is %d bytes", ErrTooLarge, limit)
		}
		return nil, fmt.Errorf("%w: reading body: %v", eventfold.ErrInvalid, err)
	}
	if !utf8.Valid(body) {
		return nil, fmt.Errorf("%w: body is not valid UTF-8", eventfold.ErrInvalid)
	}
	return body, nil
}
