package interactive_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/eventfold/eventfold"
	"github.com/eventfold/eventfold/eventfoldtest"
	"github.com/eventfold/eventfold/interactive"
	"github.com/eventfold/eventfold/kafka"
)

// forwards sums a node's forward counters (every result).
func forwards(t *testing.T, base string) float64 {
	t.Helper()
	var sum float64
	for _, r := range []string{"ok", "retry", "error"} {
		sum += max(metric(t, base, `eventfold_http_forwards_total{result="`+r+`"}`), 0)
	}
	return sum
}

// A request that was forwarded once (it carries the hop header) and lands
// on a node that does not own the key is answered 421 not_owner there: the
// forwarder's map was out of date and it retries; forwarding it again
// could loop between nodes with diverging maps. Commands, history and
// reads all go through the HTTP surface only.
func TestForwardedRequestOnANonOwnerIsNotForwardedAgain(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	c := eventfoldtest.StartNodes(t, k, 3, entities(), nil)
	nodes := c.Nodes()
	a := nodes[0]
	// Keys a does not own, one per request kind.
	var foreign []string
	for i := 0; len(foreign) < 4 && i < 1000; i++ {
		key := fmt.Sprint("hop-", i)
		if o := c.Owner("registers", key, kafka.FNV1a); o != nil && o != a {
			foreign = append(foreign, key)
		}
	}
	if len(foreign) < 4 {
		t.Fatal("every key is owned by the first node")
	}
	ctx := eventfoldtest.Context(t, time.Minute)
	// One of them exists, so that a read that wrongly went on would find it.
	if _, err := a.Client.Command(ctx, "registers", foreign[1], []byte(`{"type":"Put","v":"there"}`), interactive.CommandOptions{}); err != nil {
		t.Fatal(err)
	}

	before := forwards(t, a.URL())
	for _, tc := range []struct {
		name, method, path, body string
	}{
		{"command", "POST", "/v1/registers/" + foreign[0] + "/commands", `{"type":"Put","v":"hopped"}`},
		{"command with an idempotency key", "POST", "/v1/registers/" + foreign[2] + "/commands", `{"type":"Put","v":"hopped"}`},
		{"read", "GET", "/v1/registers/" + foreign[1], ""},
		{"history", "GET", "/v1/registers/" + foreign[1] + "/events", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(ctx, tc.method, a.URL()+tc.path, strings.NewReader(tc.body))
			req.Header.Set(interactive.HeaderHop, "node-elsewhere")
			req.Header.Set("Content-Type", "application/json")
			if strings.Contains(tc.name, "idempotency") {
				req.Header.Set(interactive.HeaderIdempotencyKey, "hop-key")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var body struct{ Code string }
			_ = jsonDecode(resp, &body)
			if resp.StatusCode != http.StatusMisdirectedRequest || body.Code != interactive.CodeNotOwner {
				t.Errorf("%s %s with the hop header on a non-owner = %d %q, want 421 %q",
					tc.method, tc.path, resp.StatusCode, body.Code, interactive.CodeNotOwner)
			}
		})
	}
	if n := forwards(t, a.URL()) - before; n != 0 {
		t.Errorf("%v forwards of requests that carried the hop header", n)
	}
	// The commands were not carried out anywhere.
	for _, key := range []string{foreign[0], foreign[2]} {
		if ans, err := nodes[1].Client.Get(ctx, "registers", key); !errors.Is(err, eventfold.ErrNotFound) {
			t.Errorf("%s after a refused hop: %+v, %v; want not found", key, ans, err)
		}
	}

	// The same command without the header is forwarded to the owner and
	// carried out: the key really is another node's.
	res, err := a.Client.Command(ctx, "registers", foreign[3], []byte(`{"type":"Put","v":"direct"}`), interactive.CommandOptions{})
	if err != nil || res.Version != 1 {
		t.Fatalf("command without the hop header: %+v, %v", res, err)
	}
	if n := forwards(t, a.URL()) - before; n < 1 {
		t.Errorf("the command to another node's key was not forwarded (%v forwards)", n)
	}
	if owner := c.Owner("registers", foreign[3], kafka.FNV1a); owner == a {
		t.Errorf("%s moved to the first node during the test", foreign[3])
	}
}
