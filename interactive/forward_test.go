package interactive_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/eventfold/eventfold/eventfoldtest"
	"github.com/eventfold/eventfold/interactive"
	"github.com/eventfold/eventfold/kafka"
)

// seenRequest is a request as the fake owner received it.
type seenRequest struct {
	method, path, hop, idempotencyKey, ifMatch, body string
}

// fakeOwner is a member of the processors' group that owns partitions and
// answers every request with 404 not_found, recording what it was sent.
type fakeOwner struct {
	srv    *httptest.Server
	mu     sync.Mutex
	seen   []seenRequest
	claims []int32
}

func (f *fakeOwner) Setup(s sarama.ConsumerGroupSession) error {
	f.mu.Lock()
	f.claims = slices.Clone(s.Claims()["registers-events"])
	f.mu.Unlock()
	return nil
}
func (f *fakeOwner) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (f *fakeOwner) ConsumeClaim(s sarama.ConsumerGroupSession, _ sarama.ConsumerGroupClaim) error {
	<-s.Context().Done()
	return nil
}

func (f *fakeOwner) requests() []seenRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.seen)
}

// joinFakeOwner starts a fake owner in the registers' group.
func joinFakeOwner(t *testing.T, k *eventfoldtest.Kafka) *fakeOwner {
	t.Helper()
	f := &fakeOwner{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.seen = append(f.seen, seenRequest{r.Method, r.URL.Path, r.Header.Get(interactive.HeaderHop),
			r.Header.Get(interactive.HeaderIdempotencyKey), r.Header.Get("If-Match"), string(b)})
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error":"the fake owner has nothing","code":"not_found"}`))
	}))
	t.Cleanup(f.srv.Close)
	joinGroup(t, k, interactive.Member{ID: "fake-owner", URL: f.srv.URL, Role: interactive.RoleProcessor}.Encode(), f)
	return f
}

// joinGroup makes a Kafka client join the registers' processor group with
// member data (true or forged) and handle its claims with h until the test
// ends.
func joinGroup(t *testing.T, k *eventfoldtest.Kafka, memberData []byte, h sarama.ConsumerGroupHandler) {
	t.Helper()
	sc := kafka.Copy(eventfoldtest.SaramaConfig(), "group-member")
	sc.Consumer.Group.Member.UserData = memberData
	cg, err := sarama.NewConsumerGroup(k.Brokers, "eventfold-registers", sc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			_ = cg.Consume(ctx, []string{"registers-events"}, h)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = cg.Close()
	})
}

// A node forwards a request for a partition it does not own to the owner
// from the group's membership, once, with the hop header naming itself and
// the request's body and command headers intact. The owner here is a fake
// member whose HTTP server records what it receives.
func TestForwardCarriesTheHopHeaderAndTheRequest(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	c := eventfoldtest.StartNodes(t, k, 1, entities(), nil)
	a := c.Nodes()[0]
	f := joinFakeOwner(t, k)
	var key string
	eventfoldtest.Eventually(t, 30*time.Second, func() error {
		f.mu.Lock()
		claims := f.claims
		f.mu.Unlock()
		for i := 0; i < 1000 && len(claims) > 0; i++ {
			if k := fmt.Sprint("fwd-", i); slices.Contains(claims, kafka.FNV1a.Partition(k, 12)) {
				key = k
				return nil
			}
		}
		return fmt.Errorf("the fake owner claims partitions %v", claims)
	})

	send := func(method, path, body string, hdr map[string]string) (int, string) {
		req, _ := http.NewRequest(method, a.URL()+path, strings.NewReader(body))
		for h, v := range hdr {
			req.Header.Set(h, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e struct{ Code string }
		_ = jsonDecode(resp, &e)
		return resp.StatusCode, e.Code
	}
	for _, tc := range []struct {
		name, method, path, body string
		hdr                      map[string]string
	}{
		{"read", "GET", "/v1/registers/" + key, "", nil},
		{"history", "GET", "/v1/registers/" + key + "/events", "", nil},
		{"command", "POST", "/v1/registers/" + key + "/commands", `{"type":"Put","v":"fwd"}`,
			map[string]string{interactive.HeaderIdempotencyKey: "idem-1", "If-Match": `"3"`, "Content-Type": "application/json"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(f.requests())
			// The node's map catches up with the fake member within its
			// refresh interval; until then the node retries.
			eventfoldtest.Eventually(t, 30*time.Second, func() error {
				if status, code := send(tc.method, tc.path, tc.body, tc.hdr); status != http.StatusNotFound || code != interactive.CodeNotFound {
					return fmt.Errorf("%s %s = %d %q, want the fake owner's 404 not_found", tc.method, tc.path, status, code)
				}
				return nil
			})
			got := f.requests()[before:]
			if len(got) != 1 {
				t.Fatalf("the fake owner received %d requests, want 1: %+v", len(got), got)
			}
			r := got[0]
			if r.hop != a.ID() || r.method != tc.method || r.path != tc.path || r.body != tc.body {
				t.Errorf("forwarded as %+v; want %s %s, body %q, hop header %q", r, tc.method, tc.path, tc.body, a.ID())
			}
			if r.idempotencyKey != tc.hdr[interactive.HeaderIdempotencyKey] && tc.method != "POST" {
				t.Errorf("Idempotency-Key %q on a read", r.idempotencyKey)
			}
			if tc.method == "POST" && (r.idempotencyKey != "idem-1" || r.ifMatch != `"3"`) {
				t.Errorf("command forwarded with Idempotency-Key %q If-Match %q, want idem-1 and \"3\"", r.idempotencyKey, r.ifMatch)
			}
		})
	}
}
