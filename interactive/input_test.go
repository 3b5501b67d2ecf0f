package interactive_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/eventfold/eventfold/eventfoldtest"
	"github.com/eventfold/eventfold/interactive"
	"github.com/eventfold/eventfold/limits"
	"github.com/eventfold/eventfold/node"
)

// reply is a raw HTTP answer.
type reply struct {
	status  int
	code    string
	message string
	current *uint64
	body    map[string]any
	raw     string
}

// send sends one request as written (the path is not re-encoded) with
// Content-Type application/json unless hdr says otherwise.
func send(t *testing.T, method, url string, hdr http.Header, body string) reply {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, vs := range hdr {
		req.Header.Del(k)
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the answer: %v", method, url, err)
	}
	r := reply{status: resp.StatusCode, raw: string(b)}
	var e struct {
		Error          string
		Code           string
		CurrentVersion *uint64 `json:"current_version"`
	}
	_ = json.Unmarshal(b, &e)
	_ = json.Unmarshal(b, &r.body)
	r.code, r.message, r.current = e.Code, e.Error, e.CurrentVersion
	return r
}

func (r reply) String() string {
	raw := r.raw
	if len(raw) > 300 {
		raw = raw[:300] + "..."
	}
	return fmt.Sprintf("%d %s", r.status, raw)
}

// Every input surface of the HTTP API, on a two-node cluster (so that some
// requests are forwarded): ids, query strings, bodies, If-Match.
func TestHTTPInputs(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	c := eventfoldtest.StartNodes(t, k, 2, entities(), func(cfg *node.Config) {
		cfg.LookupDeadline = 2 * time.Second
	})
	nodes := c.Nodes()
	a, b := nodes[0], nodes[1]
	ctx := eventfoldtest.Context(t, 3*time.Minute)

	// Ids holding "/" are sent as %2F and are entities of their own: they
	// were decoded before routing, so x%2Fevents was x's history and such
	// an id was unreachable.
	t.Run("IDWithSlashRoundTripsThroughForwarding", func(t *testing.T) {
		for _, id := range []string{"x/events", "a/b/c", "slash/", ".", "..", "q?x=1#f"} {
			if _, err := a.Client.Append(ctx, "registers", id, setEvent("v-"+id)); err != nil {
				t.Fatalf("append %q: %v", id, err)
			}
		}
		if r := send(t, "POST", a.URL()+"/v1/registers/x/events", nil, `{"type":"Set","v":"plain x"}`); r.status != 202 {
			t.Fatalf("append x: %v", r)
		}
		if r := send(t, "POST", b.URL()+"/v1/registers/x%2Fevents/events", nil, `{"type":"Set","v":"v-x/events 2"}`); r.status != 202 || r.body["id"] != "x/events" {
			t.Fatalf("raw append to x%%2Fevents: %v", r)
		}
		servedBy := map[string]bool{}
		for _, id := range []string{"x/events", "a/b/c", "slash/", ".", "..", "q?x=1#f"} {
			want := `{"v":"v-` + id + `"}`
			if id == "x/events" {
				want = `{"v":"v-x/events 2"}`
			}
			for _, nd := range nodes {
				eventfoldtest.Eventually(t, 20*time.Second, func() error {
					ans, err := nd.Client.Get(ctx, "registers", id)
					if err != nil || ans.ID != id || string(ans.State) != want {
						return fmt.Errorf("Get(%q) via %s = %+v, %v", id, nd.ID(), ans, err)
					}
					servedBy[fmt.Sprint(nd.ID() == ans.ServedBy)] = true
					return nil
				})
				h, err := nd.Client.History(ctx, "registers", id, -1, 0)
				if err != nil || h.ID != id || len(h.Events) == 0 {
					t.Fatalf("History(%q) via %s = %+v, %v", id, nd.ID(), h, err)
				}
			}
		}
		if !servedBy["true"] || !servedBy["false"] {
			t.Errorf("reads were not both local and forwarded: %v", servedBy)
		}
		// The raw path: x%2Fevents is the entity "x/events"; x/events is x's history.
		for _, nd := range nodes {
			if r := send(t, "GET", nd.URL()+"/v1/registers/x%2Fevents", nil, ""); r.status != 200 || r.body["id"] != "x/events" || r.body["state"] == nil {
				t.Errorf("GET x%%2Fevents via %s = %v, want the entity x/events", nd.ID(), r)
			}
			if r := send(t, "GET", nd.URL()+"/v1/registers/x/events", nil, ""); r.status != 200 || r.body["id"] != "x" || r.body["events"] == nil {
				t.Errorf("GET x/events via %s = %v, want x's history", nd.ID(), r)
			}
		}
	})

	// as_of=0001-01-01T00:00:00Z (the zero time) and times before the
	// epoch are before every event: 404, not the current state.
	t.Run("AsOfBeforeEveryEventIsNotFound", func(t *testing.T) {
		if _, err := a.Client.Append(ctx, "registers", "past", setEvent("now")); err != nil {
			t.Fatal(err)
		}
		eventfoldtest.Eventually(t, 20*time.Second, func() error {
			_, err := a.Client.Get(ctx, "registers", "past")
			return err
		})
		for _, asOf := range []string{"0001-01-01T00:00:00Z", "1960-01-01T00:00:00Z", "1969-12-31T23:59:59.999Z"} {
			for _, nd := range nodes {
				if r := send(t, "GET", nd.URL()+"/v1/registers/past?as_of="+asOf, nil, ""); r.status != 404 || r.code != interactive.CodeNotFound {
					t.Errorf("as_of=%s via %s = %v, want 404 not_found", asOf, nd.ID(), r)
				}
			}
		}
	})

	// Malformed pairs were silently dropped (?version=1;x read the current
	// state); repeated or unknown parameters are refused too.
	t.Run("MalformedRepeatedOrUnknownQueryIs400", func(t *testing.T) {
		for _, q := range []string{"version=1;x", "max_lag=%zz", "as_of=%", "version=1&version=2", "consistency=strong&consistency=eventual",
			"consistancy=strong", "max_lag=1&&x"} {
			if r := send(t, "GET", a.URL()+"/v1/registers/past?"+q, nil, ""); r.status != 400 || r.code != interactive.CodeInvalid {
				t.Errorf("GET ?%s = %v, want 400 invalid", q, r)
			}
		}
		for _, q := range []string{"limit=5&limit=6", "after=%zz", "after=1;limit=2", "page=2"} {
			if r := send(t, "GET", a.URL()+"/v1/registers/past/events?"+q, nil, ""); r.status != 400 || r.code != interactive.CodeInvalid {
				t.Errorf("GET events ?%s = %v, want 400 invalid", q, r)
			}
		}
		if r := send(t, "POST", a.URL()+"/v1/registers/past/commands?expected_version=1&expected_version=2", nil, `{"type":"Put","v":"x"}`); r.status != 400 {
			t.Errorf("repeated expected_version = %v, want 400", r)
		}
		if r := send(t, "POST", a.URL()+"/v1/registers/past/events?x=%zz", nil, `{"type":"Set","v":"x"}`); r.status != 400 {
			t.Errorf("append with a malformed query = %v, want 400", r)
		}
		// Well-formed queries still work.
		if r := send(t, "GET", a.URL()+"/v1/registers/past?consistency=strong&max_lag=3", nil, ""); r.status != 200 {
			t.Errorf("a well-formed query = %v", r)
		}
	})

	// Ids are checked in one place for every route (the history route had
	// no check and echoed the id); errors never echo a long id.
	t.Run("EveryRouteValidatesIDs", func(t *testing.T) {
		long := strings.Repeat("k", limits.IDBytes+1)
		for _, id := range []string{long, "ctl%01x", "tab%09", "bad-utf8-%FF", "del%7F"} {
			for _, rt := range []struct{ method, suffix, body string }{
				{"GET", "", ""}, {"GET", "/events", ""}, {"POST", "/events", `{"type":"Set","v":"x"}`}, {"POST", "/commands", `{"type":"Put","v":"x"}`},
			} {
				r := send(t, rt.method, a.URL()+"/v1/registers/"+id+rt.suffix, nil, rt.body)
				if r.status != 400 || r.code != interactive.CodeInvalid || len(r.message) > 300 {
					t.Errorf("%s %.20s...%s = %v, want a short 400 invalid", rt.method, id, rt.suffix, r)
				}
			}
		}
		// At the limit, an id is fine.
		atLimit := strings.Repeat("k", limits.IDBytes)
		if r := send(t, "GET", a.URL()+"/v1/registers/"+atLimit+"/events", nil, ""); r.status == 400 {
			t.Errorf("history of an id of limits.IDBytes = %v", r)
		}
	})

	// Invalid UTF-8 in a body was decoded into U+FFFD and stored.
	t.Run("InvalidUTF8BodyIs400", func(t *testing.T) {
		for _, route := range []string{"/v1/registers/u/events", "/v1/registers/u/commands"} {
			typ := "Set"
			if strings.HasSuffix(route, "commands") {
				typ = "Put"
			}
			r := send(t, "POST", b.URL()+route, nil, `{"type":"`+typ+`","v":"`+"\xff\xfe"+`"}`)
			if r.status != 400 || r.code != interactive.CodeInvalid {
				t.Errorf("POST %s with invalid UTF-8 = %v, want 400 invalid", route, r)
			}
		}
	})

	// A POST must say application/json: a cross-site "simple" POST (form,
	// text/plain) needs no CORS preflight, so it is refused with 415.
	t.Run("PostNeedsJSONContentType", func(t *testing.T) {
		for _, route := range []string{"/v1/registers/ct/events", "/v1/registers/ct/commands"} {
			body := `{"type":"Set","v":"x"}`
			if strings.HasSuffix(route, "commands") {
				body = `{"type":"Put","v":"x"}`
			}
			for _, ct := range []string{"", "application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x", "application/jsonx", "application/json;;"} {
				r := send(t, "POST", a.URL()+route, http.Header{"Content-Type": {ct}}, body)
				if r.status != 415 || r.code != interactive.CodeUnsupportedMediaType {
					t.Errorf("POST %s with Content-Type %q = %v, want 415 unsupported_media_type", route, ct, r)
				}
			}
			for _, ct := range []string{"application/json", "application/json; charset=utf-8", "Application/JSON"} {
				if r := send(t, "POST", a.URL()+route, http.Header{"Content-Type": {ct}}, body); r.status/100 != 2 {
					t.Errorf("POST %s with Content-Type %q = %v", route, ct, r)
				}
			}
		}
	})

	// If-Match is one strong quoted version or *: "" skipped the check,
	// W/"1" matched, """1""" was accepted, * was 400.
	t.Run("IfMatchIsOneStrongVersionOrStar", func(t *testing.T) {
		put := `{"type":"Put","v":"x"}`
		for _, nd := range nodes {
			id := "im-" + nd.ID()
			url := nd.URL() + "/v1/registers/" + id + "/commands"
			im := func(v ...string) http.Header { return http.Header{"If-Match": v} }
			// * on an entity that does not exist: 409, current version 0.
			if r := send(t, "POST", url, im("*"), put); r.status != 409 || r.code != interactive.CodeConflict || r.current == nil || *r.current != 0 {
				t.Fatalf("If-Match * on a new entity via %s = %v, want 409 current_version 0", nd.ID(), r)
			}
			if r := send(t, "POST", url, im(`"0"`), put); r.status != 200 || r.body["version"] != 1.0 {
				t.Fatalf(`If-Match "0" on a new entity via %s = %v`, nd.ID(), r)
			}
			for _, bad := range [][]string{{`""`}, {`"""1"""`}, {`1`}, {`"1`}, {`" 1"`}, {`"+1"`}, {`"-1"`}, {`"0x1"`}, {`"1", "2"`}, {`"1"`, `"2"`},
				{`"18446744073709551616"`}, {`W/""`}, {`W/`}, {`**`}, {`*"`}, {``}} {
				if r := send(t, "POST", url, im(bad...), put); r.status != 400 || r.code != interactive.CodeInvalid {
					t.Errorf("If-Match %q via %s = %v, want 400 invalid", bad, nd.ID(), r)
				}
			}
			// A weak tag never matches a strong comparison: 409 with the version.
			if r := send(t, "POST", url, im(`W/"1"`), put); r.status != 409 || r.current == nil || *r.current != 1 {
				t.Errorf(`If-Match W/"1" at version 1 via %s = %v, want 409 current_version 1`, nd.ID(), r)
			}
			if r := send(t, "POST", url, im("*"), put); r.status != 200 || r.body["version"] != 2.0 {
				t.Errorf("If-Match * on an existing entity via %s = %v", nd.ID(), r)
			}
			if r := send(t, "POST", url, im(`"2"`), put); r.status != 200 || r.body["version"] != 3.0 {
				t.Errorf(`If-Match "2" at version 2 via %s = %v`, nd.ID(), r)
			}
			if r := send(t, "POST", url, im(`"2"`), put); r.status != 409 || r.current == nil || *r.current != 3 {
				t.Errorf(`If-Match "2" at version 3 via %s = %v`, nd.ID(), r)
			}
			// expected_version stays; it must agree with If-Match.
			if r := send(t, "POST", url+"?expected_version=3", im(`"3"`), put); r.status != 200 {
				t.Errorf("agreeing expected_version and If-Match via %s = %v", nd.ID(), r)
			}
			for _, q := range []string{"?expected_version=4&x", "?expected_version=+4", "?expected_version="} {
				if r := send(t, "POST", url+q, nil, put); r.status != 400 {
					t.Errorf("%s via %s = %v, want 400", q, nd.ID(), r)
				}
			}
			for _, h := range []string{`"5"`, "*", `W/"4"`} {
				if r := send(t, "POST", url+"?expected_version=4", im(h), put); r.status != 400 {
					t.Errorf("expected_version=4 with If-Match %s via %s = %v, want 400", h, nd.ID(), r)
				}
			}
		}
	})

	// Bodies just under 1 MiB got 503 + Retry-After (the produce failed as
	// too large, forever): the limit is limits.EventBytes, 413 past it.
	t.Run("BodyLimitIsEventBytes", func(t *testing.T) {
		event := func(size int) string {
			pre := `{"type":"Set","v":"`
			return pre + strings.Repeat("x", size-len(pre)-2) + `"}`
		}
		for _, size := range []int{limits.EventBytes + 1, 1<<20 - 100, 1 << 20, 4 << 20} {
			for _, route := range []string{"/v1/registers/big/events", "/v1/registers/big/commands"} {
				if r := send(t, "POST", a.URL()+route, nil, event(size)); r.status != 413 || r.code != interactive.CodeTooLarge {
					t.Errorf("POST %s of %d bytes = %v, want 413 too_large", route, size, r)
				}
			}
		}
		if r := send(t, "POST", a.URL()+"/v1/registers/big/events", nil, event(limits.EventBytes)); r.status != 202 {
			t.Errorf("an event of limits.EventBytes = %v, want 202", r)
		}
	})

	// Defense in depth: a broker that refuses a record as too large (its
	// max.message.bytes below ours) is 413, not a 503 retried forever.
	// Last: it lowers the topic's limit.
	t.Run("BrokerRefusingAnEventAsTooLargeIs413", func(t *testing.T) {
		admin, err := sarama.NewClusterAdmin(k.Brokers, eventfoldtest.SaramaConfig())
		if err != nil {
			t.Fatal(err)
		}
		defer admin.Close()
		max := "2000"
		if err := admin.IncrementalAlterConfig(sarama.TopicResource, "registers-events", map[string]sarama.IncrementalAlterConfigsEntry{
			"max.message.bytes": {Operation: sarama.IncrementalAlterConfigsOperationSet, Value: &max},
		}, false); err != nil {
			t.Fatal(err)
		}
		// Random hex: the producer's compression cannot shrink it below 2000.
		noise := make([]byte, 10000)
		_, _ = rand.Read(noise)
		body := `{"type":"Set","v":"` + hex.EncodeToString(noise) + `"}`
		r := send(t, "POST", a.URL()+"/v1/registers/refused/events", nil, body)
		if r.status != 413 || r.code != interactive.CodeTooLarge {
			t.Fatalf("an event the broker refuses as too large = %v, want 413 too_large", r)
		}
		// Small events still go through.
		if _, err := a.Client.Append(context.Background(), "registers", "refused", setEvent("small")); err != nil {
			t.Fatalf("small append after a refused one: %v", err)
		}
	})
}
