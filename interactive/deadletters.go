package interactive

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/IBM/sarama"
	"github.com/gorilla/mux"

	"github.com/eventfold/eventfold"
	"github.com/eventfold/eventfold/entity"
	"github.com/eventfold/eventfold/kafka"
	"github.com/eventfold/eventfold/limits"
)

// DeadLettersResponse is the body of GET /v1/deadletters/{entity}: a page
// of the entity type's dead letters (<events topic>-dlq), oldest first
// across partitions: partition by partition, each by offset.
type DeadLettersResponse struct {
	Entity      string       `json:"entity"`
	Topic       string       `json:"topic"`
	DeadLetters []DeadLetter `json:"dead_letters"`
	// Next is an opaque cursor: pass it as ?after= for the next page. It
	// is null once every partition was read to its end (dead letters
	// written later come after the cursor of the page before).
	Next  *string `json:"next"`
	Limit int     `json:"limit"`
}

// DeadLetter is one record of a dead-letter topic with what the fold
// wrote in its headers (processor/deadletter.go, the entity.DeadLetterHeader*
// names).
type DeadLetter struct {
	Partition int32     `json:"partition"`
	Offset    int64     `json:"offset"`
	Key       string    `json:"key"` // the entity id
	Timestamp time.Time `json:"timestamp"`
	Reason    string    `json:"reason"` // entity.Reason: decode, evolve, no-key, ...
	Error     string    `json:"error"`
	EventType string    `json:"event_type"` // "" when the event did not decode
	// SourceTopic, SourcePartition and SourceOffset say where the event is
	// in the events topic (null if a header is missing).
	SourceTopic     string `json:"source_topic"`
	SourcePartition *int32 `json:"source_partition"`
	SourceOffset    *int64 `json:"source_offset"`
	// Value is the event as appended: UTF-8 text, or base64 when it is not
	// valid UTF-8 (ValueEncoding says which), cut to
	// limits.DeadLetterValueBytes (ValueTruncated).
	Value          string `json:"value"`
	ValueEncoding  string `json:"value_encoding"` // "text" or "base64"
	ValueTruncated bool   `json:"value_truncated"`
	// ValueOmitted is the size of an event too large to be copied into
	// its dead letter (the source fields say where it is); KeyOmitted
	// likewise for a key over limits.IDBytes.
	ValueOmitted *int64 `json:"value_omitted,omitempty"`
	KeyOmitted   *int64 `json:"key_omitted,omitempty"`
}

// Query parameters of GET /v1/deadletters/{entity}.
var deadLetterParams = []string{"after", "limit", "key"}

// defaultDeadLetterPage is the page size without ?limit=.
const defaultDeadLetterPage = 100

// deadLetterHeaderBytes caps each header value shown (the fold writes
// at most limits.ErrorTextBytes; another producer may write anything).
const deadLetterHeaderBytes = limits.ErrorTextBytes

// deadLetters handles GET /v1/deadletters/{entity}: read-only, answered
// by the node asked from Kafka (no owner involved).
func (s *Server) deadLetters(r *http.Request) (any, error) {
	raw := mux.Vars(r)["entity"]
	entityName, err := url.PathUnescape(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: entity type %s is not a valid path segment", eventfold.ErrInvalid, short(raw))
	}
	typ, ok := s.b.Catalog.Type(entityName)
	if !ok {
		return nil, fmt.Errorf("%w: unknown entity type %s", eventfold.ErrNotFound, short(entityName))
	}
	q, err := parseQuery(r.URL.RawQuery, deadLetterParams...)
	if err != nil {
		return nil, err
	}
	limit := defaultDeadLetterPage
	if q.Has("limit") {
		l := q.Get("limit")
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > limits.DeadLetterPageItems {
			return nil, fmt.Errorf("%w: limit=%s, want 1..%d", eventfold.ErrInvalid, short(l), limits.DeadLetterPageItems)
		}
		limit = n
	}
	var cursor map[int32]int64
	if q.Has("after") {
		if cursor, err = decodeCursor(q.Get("after")); err != nil {
			return nil, err
		}
	}
	key := q.Get("key") // only this entity's dead letters (a page may then hold none and still have a next)
	if q.Has("key") {
		if err := validateID(key); err != nil {
			return nil, err
		}
	}
	topic := typ.DeadLetterTopic()
	out := DeadLettersResponse{Entity: entityName, Topic: topic, DeadLetters: []DeadLetter{}, Limit: limit}
	if s.b.Records == nil {
		return nil, fmt.Errorf("%w: this node reads no topics", eventfold.ErrUnavailable)
	}
	parts, err := s.b.Records.Partitions(topic)
	if errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
		return out, nil // not created yet: no dead letters
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", eventfold.ErrUnavailable, err)
	}
	next := make(map[int32]int64, len(parts))
	for _, p := range parts {
		next[p] = cursor[p]
		delete(cursor, p)
	}
	if len(cursor) > 0 {
		return nil, fmt.Errorf("%w: the cursor names %d partitions %s does not have", eventfold.ErrInvalid, len(cursor), topic)
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.lookupDeadline)
	defer cancel()
	used := 0
	full := func() bool { return len(out.DeadLetters) >= limit || used >= limits.DeadLetterPageBytes }
	end := true
	for _, p := range parts {
		var hwm int64
		if full() {
			// Only whether anything is left here, for next.
			hwm, err = s.b.Records.HighWaterMark(topic, p)
		} else {
			next[p], hwm, err = s.b.Records.ReadFrom(ctx, topic, p, next[p], limits.DeadLetterPageBytes, func(rec kafka.Fetched) bool {
				if full() {
					return false
				}
				if key != "" && string(rec.Key) != key {
					// Read, so it counts against the page's bytes.
					used += len(rec.Key) + len(rec.Value)
					return true
				}
				dl, size := deadLetter(rec)
				out.DeadLetters = append(out.DeadLetters, dl)
				used += size
				return true
			})
		}
		if err != nil {
			return nil, fmt.Errorf("%w: reading %s/%d: %v", eventfold.ErrUnavailable, topic, p, err)
		}
		if next[p] < hwm {
			end = false
		}
	}
	if !end {
		c := encodeCursor(parts, next)
		out.Next = &c
	}
	return out, nil
}

// deadLetter renders rec, a slice of its fetch response (everything kept
// is copied), and returns the bytes it counts against the page: key,
// value and headers as stored.
func deadLetter(rec kafka.Fetched) (DeadLetter, int) {
	dl := DeadLetter{
		Partition: rec.Partition, Offset: rec.Offset, Timestamp: rec.Timestamp,
		Key: strings.ToValidUTF8(string(rec.Key), "\uFFFD"),
	}
	size := len(rec.Key) + len(rec.Value)
	seen := map[string]bool{}
	for _, h := range rec.Headers {
		if h == nil {
			continue
		}
		size += len(h.Key) + len(h.Value)
		k := string(h.Key)
		if seen[k] {
			continue // the first of a repeated header counts
		}
		seen[k] = true
		v := limits.Truncate(strings.ToValidUTF8(string(h.Value[:min(len(h.Value), deadLetterHeaderBytes+4)]), "\uFFFD"), deadLetterHeaderBytes)
		switch k {
		case entity.DeadLetterHeaderReason:
			dl.Reason = v
		case entity.DeadLetterHeaderError:
			dl.Error = v
		case entity.DeadLetterHeaderEventType:
			dl.EventType = v
		case entity.DeadLetterHeaderSourceTopic:
			dl.SourceTopic = v
		case entity.DeadLetterHeaderSourcePartition:
			if n, err := strconv.ParseInt(v, 10, 32); err == nil {
				p := int32(n)
				dl.SourcePartition = &p
			}
		case entity.DeadLetterHeaderSourceOffset:
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				dl.SourceOffset = &n
			}
		case entity.DeadLetterHeaderValueOmitted:
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				dl.ValueOmitted = &n
			}
		case entity.DeadLetterHeaderKeyOmitted:
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				dl.KeyOmitted = &n
			}
		}
	}
	dl.Value, dl.ValueEncoding, dl.ValueTruncated = showValue(rec.Value)
	return dl, size
}

// showValue renders a value as text (valid UTF-8) or base64, at most
// limits.DeadLetterValueBytes shown.
func showValue(v []byte) (shown, encoding string, truncated bool) {
	const most = limits.DeadLetterValueBytes
	if utf8.Valid(v) {
		if len(v) <= most {
			return string(v), "text", false
		}
		cut := most
		for cut > 0 && !utf8.RuneStart(v[cut]) {
			cut--
		}
		return string(v[:cut]), "text", true
	}
	raw := most / 4 * 3 // base64 makes 4 bytes of 3
	if len(v) <= raw {
		return base64.StdEncoding.EncodeToString(v), "base64", false
	}
	return base64.StdEncoding.EncodeToString(v[:raw]), "base64", true
}

// encodeCursor makes the opaque cursor of a dead-letter page: base64url
// of "p:o,p:o,…", each partition's next offset.
func encodeCursor(parts []int32, next map[int32]int64) string {
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(int(p)))
		b.WriteByte(':')
		b.WriteString(strconv.FormatInt(next[p], 10))
	}
	return base64.RawURLEncoding.EncodeToString([]byte(b.String()))
}

// decodeCursor reads encodeCursor's cursor strictly: anything else is
// 400 invalid.
func decodeCursor(c string) (map[int32]int64, error) {
	bad := func(why string) error {
		return fmt.Errorf("%w: after=%s is not a cursor of this route (%s)", eventfold.ErrInvalid, short(c), why)
	}
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(raw) == 0 {
		return nil, bad("not base64url")
	}
	out := map[int32]int64{}
	for _, pair := range strings.Split(string(raw), ",") {
		ps, offs, ok := strings.Cut(pair, ":")
		p, perr := strconv.ParseInt(ps, 10, 32)
		o, oerr := strconv.ParseInt(offs, 10, 64)
		if !ok || perr != nil || oerr != nil || p < 0 || o < 0 || ps[0] == '+' || offs[0] == '+' {
			return nil, bad("want partition:offset pairs")
		}
		if _, dup := out[int32(p)]; dup {
			return nil, bad(fmt.Sprintf("partition %d given twice", p))
		}
		out[int32(p)] = o
	}
	return out, nil
}
