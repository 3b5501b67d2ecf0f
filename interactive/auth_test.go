package interactive_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/eventfold/eventfold/eventfoldtest"
	"github.com/eventfold/eventfold/interactive"
	"github.com/eventfold/eventfold/kafka"
	"github.com/eventfold/eventfold/node"
)

const (
	readToken  = "read-token-0123456789"
	writeToken = "write-token-0123456789"
	adminToken = "admin-token-0123456789"
)

var clusterSecret = []byte("cluster secret, not a client token")

func scopedCluster(t *testing.T, k *eventfoldtest.Kafka, n int) *eventfoldtest.Cluster {
	return eventfoldtest.StartNodes(t, k, n, entities(), func(cfg *node.Config) {
		cfg.Tokens = interactive.Tokens{readToken: interactive.ScopeRead, writeToken: interactive.ScopeWrite, adminToken: interactive.ScopeAdmin}
		cfg.ClusterSecret = clusterSecret
		cfg.MetricsNeedToken = true
	})
}

// Each token rule of docs/security.md, on a node whose keys half live on
// another node (so reads are forwarded, signed with the cluster secret).
func TestTokenRules(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	c := scopedCluster(t, k, 2)
	load(t, k, 50, func(i int) string { return "v" })
	nodes := c.Nodes()
	var local, foreign string
	for i := 0; i < 50 && (local == "" || foreign == ""); i++ {
		id := fmt.Sprintf("r-%d", i)
		if c.Owner("registers", id, kafka.FNV1a) == nodes[0] {
			local = id
		} else {
			foreign = id
		}
	}
	base := nodes[0].URL()
	eventfoldtest.Eventually(t, 30*time.Second, func() error {
		for _, id := range []string{local, foreign} {
			if code := do(t, "GET", base+"/v1/registers/"+id, "", "Bearer "+readToken); code != 200 {
				return fmt.Errorf("GET %s = %d", id, code)
			}
		}
		return nil
	})
	set := `{"type":"Set","v":"w"}`
	for _, tc := range []struct {
		name, method, path, body string
		auth                     []string
		status                   int
	}{
		{"no token", "GET", "/v1/registers/" + local, "", nil, 401},
		{"unknown token", "GET", "/v1/registers/" + local, "", []string{"Bearer " + strings.Repeat("x", 22)}, 401},
		{"a prefix of a token", "GET", "/v1/registers/" + local, "", []string{"Bearer " + readToken[:10]}, 401},
		{"a token and more", "GET", "/v1/registers/" + local, "", []string{"Bearer " + readToken + "x"}, 401},
		{"not bearer", "GET", "/v1/registers/" + local, "", []string{"Basic " + readToken}, 401},
		{"bearer in lower case", "GET", "/v1/registers/" + local, "", []string{"bearer " + readToken}, 200},
		{"BEARER in upper case", "GET", "/v1/registers/" + local, "", []string{"BEARER " + readToken}, 200},
		{"two Authorization headers", "GET", "/v1/registers/" + local, "", []string{"Bearer " + readToken, "Bearer " + adminToken}, 400},
		{"read token reads a forwarded key", "GET", "/v1/registers/" + foreign, "", []string{"Bearer " + readToken}, 200},
		{"read token reads the history", "GET", "/v1/registers/" + foreign + "/events", "", []string{"Bearer " + readToken}, 200},
		{"read token cannot append", "POST", "/v1/registers/" + local + "/events", set, []string{"Bearer " + readToken}, 403},
		{"read token cannot run a command", "POST", "/v1/registers/" + foreign + "/commands", `{"type":"Put","v":"x"}`, []string{"Bearer " + readToken}, 403},
		{"write token appends", "POST", "/v1/registers/" + local + "/events", set, []string{"Bearer " + writeToken}, 202},
		{"write token runs a forwarded command", "POST", "/v1/registers/" + foreign + "/commands", `{"type":"Put","v":"x"}`, []string{"Bearer " + writeToken}, 200},
		{"admin token appends", "POST", "/v1/registers/" + local + "/events", set, []string{"Bearer " + adminToken}, 202},
		{"metrics without a token", "GET", "/metrics", "", nil, 401},
		{"metrics with a read token", "GET", "/metrics", "", []string{"Bearer " + readToken}, 403},
		{"metrics with the admin token", "GET", "/metrics", "", []string{"Bearer " + adminToken}, 200},
		{"healthz needs no token", "GET", "/healthz", "", nil, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := do(t, tc.method, base+tc.path, tc.body, tc.auth...); got != tc.status {
				t.Errorf("%s %s = %d, want %d", tc.method, tc.path, got, tc.status)
			}
		})
	}
	// A forged peer signature is no credential.
	req, _ := http.NewRequest("GET", base+"/v1/registers/"+local, nil)
	req.Header.Set(interactive.HeaderPeer, fmt.Sprintf("node-2 %d %s", time.Now().UnixMilli(), strings.Repeat("ab", 32)))
	if code := sendCode(t, req); code != 401 {
		t.Errorf("forged peer signature = %d, want 401", code)
	}
}

func do(t *testing.T, method, url, body string, auth ...string) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, a := range auth {
		req.Header.Add("Authorization", a)
	}
	return sendCode(t, req)
}

func sendCode(t *testing.T, req *http.Request) int {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// A Kafka client that joins a processor group with forged member data is
// assigned partitions (Kafka trusts group members), but with a cluster
// secret no node forwards to it: it receives no request and no token, and
// nothing it would answer reaches a client.
func TestForgedGroupMemberReceivesNothing(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	var hits atomic.Int64
	var sawAuth atomic.Value
	rogue := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		sawAuth.Store(r.Header.Get("Authorization") + r.Header.Get(interactive.HeaderPeer))
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":"x","entity":"registers","version":999,"state":{"v":"forged"}}`)
	}))
	defer rogue.Close()
	c := eventfoldtest.StartNodes(t, k, 1, entities(), func(cfg *node.Config) {
		cfg.Token = adminToken
		cfg.ClusterSecret = clusterSecret
		cfg.LookupDeadline = 500 * time.Millisecond
	})
	const keys = 60
	load(t, k, keys, func(int) string { return "real" })
	real := c.Nodes()[0]
	// Every key folded before the rogue joins: afterwards a key is either
	// served by the real node or in a partition the rogue holds.
	eventfoldtest.Eventually(t, 30*time.Second, func() error {
		for i := 0; i < keys; i++ {
			if code := do(t, "GET", real.URL()+fmt.Sprintf("/v1/registers/r-%d", i), "", "Bearer "+adminToken); code != 200 {
				return fmt.Errorf("r-%d: %d", i, code)
			}
		}
		return nil
	})

	// The rogue member: unsigned data, and data signed with another secret.
	for i, data := range [][]byte{
		interactive.Member{ID: "evil", URL: rogue.URL}.Encode(),
		interactive.Member{ID: "evil2", URL: rogue.URL}.Sign([]byte("a guessed secret")),
	} {
		joinGroup(t, k, data, holdClaims{})
		// Wait until the real node owns fewer partitions: the rogue holds some.
		eventfoldtest.Eventually(t, 60*time.Second, func() error {
			if n := len(real.Assigned("registers")); n >= 12-i {
				return fmt.Errorf("the real node still owns %d partitions", n)
			}
			return nil
		})
	}
	var served, refused int
	for i := 0; i < keys; i++ {
		req, _ := http.NewRequest("GET", real.URL()+fmt.Sprintf("/v1/registers/r-%d", i), nil)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case resp.StatusCode == 200 && strings.Contains(string(body), `"real"`) && resp.Header.Get(interactive.HeaderServedBy) == real.ID():
			served++
		case resp.StatusCode == 503:
			refused++
		default:
			t.Errorf("r-%d: %d %s (served by %q)", i, resp.StatusCode, body, resp.Header.Get(interactive.HeaderServedBy))
		}
	}
	t.Logf("%d keys served by the real node, %d answered 503 (their partitions are held by the rogue)", served, refused)
	if refused == 0 {
		t.Error("no key was in a rogue partition: the test tested nothing")
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the rogue received %d requests (credentials %q)", n, sawAuth.Load())
	}
}

// holdClaims keeps its partitions without reading them.
type holdClaims struct{}

func (holdClaims) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (holdClaims) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (holdClaims) ConsumeClaim(s sarama.ConsumerGroupSession, _ sarama.ConsumerGroupClaim) error {
	<-s.Context().Done()
	return nil
}
