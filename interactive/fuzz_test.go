package interactive

import (
	"encoding/binary"
	"errors"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/IBM/sarama"

	"github.com/eventfold/eventfold"
	"github.com/eventfold/eventfold/limits"
)

// Fuzz targets for every input surface of this package. `go test` runs the
// seeds; `go test -run='^$' -fuzz='^FuzzX$' -fuzztime=20s ./interactive/`
// explores.

// maxErrorText bounds an error message about hostile input: errors quote
// input through short(), never whole.
const maxErrorText = 512

func checkInputError(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, eventfold.ErrInvalid) {
		t.Fatalf("input error without ErrInvalid: %v", err)
	}
	if len(err.Error()) > maxErrorText {
		t.Fatalf("error of %d bytes echoes its input: %.100s...", len(err.Error()), err.Error())
	}
}

func FuzzParseReadOptions(f *testing.F) {
	for _, q := range []string{"", "consistency=strong", "consistency=eventual&max_lag=3", "min_offset=7", "version=1", "version=0",
		"as_of=2026-01-01T00:00:00Z", "as_of=0001-01-01T00:00:00Z", "as_of=1960-01-01T00:00:00Z", "version=1;x", "max_lag=%zz",
		"version=1&version=2", "version=1&as_of=2020-01-01T00:00:00Z", "consistancy=strong", "max_lag=-1", "a=%", "&&&", "=",
		"version=18446744073709551616", "as_of=2026-01-01T00:00:00.123456789+14:00", "min_offset=" + strings.Repeat("9", 5000)} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		o, err := parseReadOptions(raw)
		if err != nil {
			checkInputError(t, err)
			return
		}
		if o.maxLag < -1 || o.minOffset < -1 {
			t.Fatalf("%q: max_lag %d, min_offset %d", raw, o.maxLag, o.minOffset)
		}
		if o.version > 0 && o.hasAsOf {
			t.Fatalf("%q: both version and as_of", raw)
		}
		if (o.minOffset >= 0 || o.pointInTime()) && !o.strong {
			t.Fatalf("%q: an owner-only read is not strong", raw)
		}
		// A valid query names each known parameter at most once.
		q, _ := url.ParseQuery(raw)
		for k, vs := range q {
			if len(vs) != 1 || !contains(readParams, k) {
				t.Fatalf("%q accepted with %s=%q", raw, k, vs)
			}
		}
	})
}

func FuzzParseHistoryQuery(f *testing.F) {
	for _, q := range []string{"", "after=5", "limit=1", "limit=1000", "limit=1001", "limit=0", "after=-1", "after=%zz",
		"limit=5&limit=6", "after=1;limit=2", "page=2", "limit=+5", "after=9223372036854775808"} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		h, err := parseHistoryQuery(raw)
		if err != nil {
			checkInputError(t, err)
			return
		}
		if h.after < -1 || h.limit < 1 || h.limit > limits.HistoryPageEvents {
			t.Fatalf("%q: after %d, limit %d", raw, h.after, h.limit)
		}
	})
}

func FuzzValidateID(f *testing.F) {
	for _, id := range []string{"order-42", "x/events", "x%2Fevents", "", "\x00", "a\nb", "\u0085", "\xff", "%FF", "%zz", "ü", "\u2028",
		strings.Repeat("k", limits.IDBytes), strings.Repeat("k", limits.IDBytes+1), strings.Repeat("ü", 600)} {
		f.Add(id)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		// The path segment as routed (encoded), then the id.
		for _, id := range []string{raw, unescapeOr(raw)} {
			err := validateID(id)
			if err != nil {
				checkInputError(t, err)
				continue
			}
			if len(id) == 0 || len(id) > limits.IDBytes || !utf8.ValidString(id) || strings.IndexFunc(id, unicode.IsControl) >= 0 {
				t.Fatalf("accepted id %q", id)
			}
		}
	})
}

func unescapeOr(s string) string {
	if u, err := url.PathUnescape(s); err == nil {
		return u
	}
	return s
}

func FuzzCommandOptions(f *testing.F) {
	for _, s := range []struct{ ifMatch, key, query string }{
		{"", "", ""}, {`"3"`, "k-1", ""}, {"*", "", ""}, {`W/"2"`, "", ""}, {`""`, "", ""}, {`"""3"""`, "", ""},
		{`"1", "2"`, "", ""}, {`"3"`, "", "expected_version=3"}, {`"3"`, "", "expected_version=4"}, {"*", "", "expected_version=1"},
		{"", "", "expected_version=1&expected_version=2"}, {"", "", "expected_version=+1"}, {"", strings.Repeat("k", 300), ""},
		{"", "a\x00b", ""}, {`"18446744073709551615"`, "", ""}, {`"18446744073709551616"`, "", ""}, {"W/", "", ""}, {"\xff", "\xff", "%"},
	} {
		f.Add(s.ifMatch, s.key, s.query)
	}
	f.Fuzz(func(t *testing.T, ifMatch, key, query string) {
		h := http.Header{}
		if ifMatch != "" {
			h.Set("If-Match", ifMatch)
		}
		if key != "" {
			h.Set(HeaderIdempotencyKey, key)
		}
		o, err := commandOptions(h, query)
		if err != nil {
			checkInputError(t, err)
			return
		}
		if len(o.ID) > limits.IdempotencyKeyBytes || !utf8.ValidString(o.ID) {
			t.Fatalf("accepted Idempotency-Key %q", o.ID)
		}
		q, _ := url.ParseQuery(query)
		switch {
		case q.Has("expected_version"):
			if o.ExpectedVersion == nil || strconv.FormatUint(*o.ExpectedVersion, 10) != q.Get("expected_version") {
				t.Fatalf("expected_version=%q gave %v", q.Get("expected_version"), o.ExpectedVersion)
			}
		case ifMatch == "":
			if o.ExpectedVersion != nil || o.MustExist {
				t.Fatalf("no If-Match gave a check: %+v", o)
			}
		case ifMatch == "*":
			if !o.MustExist || o.ExpectedVersion != nil {
				t.Fatalf("If-Match * gave %+v", o)
			}
		case strings.HasPrefix(ifMatch, "W/"):
			if o.ExpectedVersion == nil || *o.ExpectedVersion != math.MaxUint64 {
				t.Fatalf("weak If-Match %q can match: %+v", ifMatch, o)
			}
		default:
			// Exactly one strong quoted decimal.
			if o.ExpectedVersion == nil || o.MustExist || len(ifMatch) < 3 {
				t.Fatalf("If-Match %q gave %+v", ifMatch, o)
			}
			v, err := strconv.ParseUint(ifMatch[1:len(ifMatch)-1], 10, 64)
			if err != nil || v != *o.ExpectedVersion || ifMatch[0] != '"' || ifMatch[len(ifMatch)-1] != '"' {
				t.Fatalf("If-Match %q gave %d", ifMatch, *o.ExpectedVersion)
			}
		}
	})
}

// groupMetadata encodes sarama's consumer group member metadata (version
// 0: topics, user data), as a member of the group publishes it.
func groupMetadata(userData []byte, topics ...string) []byte {
	var b []byte
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(len(topics)))
	for _, t := range topics {
		b = binary.BigEndian.AppendUint16(b, uint16(len(t)))
		b = append(b, t...)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(userData)))
	return append(b, userData...)
}

// groupAssignment encodes an assignment (version 0) of partitions of topic.
func groupAssignment(topic string, parts ...int32) []byte {
	var b []byte
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint32(b, 1)
	b = binary.BigEndian.AppendUint16(b, uint16(len(topic)))
	b = append(b, topic...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(parts)))
	for _, p := range parts {
		b = binary.BigEndian.AppendUint32(b, uint32(p))
	}
	return binary.BigEndian.AppendUint32(b, 0xffffffff) // no user data
}

// What another member of a consumer group published must never crash the
// ownership refresh, whatever its bytes.
func FuzzDecodeGroupMember(f *testing.F) {
	good := Member{ID: "node-1", URL: "http://10.0.0.7:8080", Role: RoleProcessor}.Encode()
	for _, s := range []struct{ meta, asg []byte }{
		{groupMetadata(good, "orders-events"), groupAssignment("orders-events", 0, 1, 2)},
		{groupMetadata(good), nil},
		{groupMetadata([]byte(memberDataPrefix + `{"id":"x"}`)), nil},
		{groupMetadata([]byte(memberDataPrefix + `{"id":"x","url":"u","role":7}`)), nil},
		{groupMetadata([]byte("something else's data")), groupAssignment("t", -1)},
		{groupMetadata(nil), groupAssignment("t")},
		{[]byte{0, 0, 0x7f, 0xff, 0xff, 0xff}, []byte{0, 0, 0x7f, 0xff, 0xff, 0xff}},
		{[]byte{0xff, 0xff}, []byte{0, 1}},
		{nil, nil},
		{groupMetadata(good)[:10], groupAssignment("t", 1)[:9]},
	} {
		f.Add(s.meta, s.asg)
	}
	f.Fuzz(func(t *testing.T, meta, asg []byte) {
		m, _, err := (&Ownership{}).decodeGroupMember(&sarama.GroupMemberDescription{MemberMetadata: meta, MemberAssignment: asg})
		if err == nil && (m.ID == "" || m.URL == "") {
			t.Fatalf("accepted member %+v", m)
		}
	})
}

func FuzzDecodeMember(f *testing.F) {
	for _, b := range [][]byte{
		Member{ID: "node-1", URL: "http://a:8080"}.Encode(),
		Member{ID: "r", URL: "http://r", Role: RoleReplica}.Encode(),
		[]byte(memberDataPrefix), []byte(memberDataPrefix + "null"), []byte(memberDataPrefix + `{"id":1}`),
		[]byte(memberDataPrefix + `{"id":"a","url":"b"`), []byte("eventfold/2:{}"), []byte("\xff\xfe"), nil,
		[]byte(memberDataPrefix + `{"id":"a","url":"b","id":"c"}`),
	} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeMember(b)
		if err != nil {
			return
		}
		if m.ID == "" || m.URL == "" {
			t.Fatalf("accepted %q as %+v", b, m)
		}
		// What decodes re-encodes to the same member.
		again, err := DecodeMember(m.Encode())
		if err != nil || again != m {
			t.Fatalf("%+v re-decodes as %+v, %v", m, again, err)
		}
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
