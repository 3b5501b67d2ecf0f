package node_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventfold/eventfold/demo"
	"github.com/eventfold/eventfold/eventfoldtest"
	"github.com/eventfold/eventfold/node"
)

// syncBuffer is a log sink the node's goroutines and the test share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// A node whose API needs no token warns at start when it listens beyond
// loopback, and only then.
func TestWarnsWhenAnOpenAPIListensBeyondLoopback(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	for _, tc := range []struct {
		name, addr string
		token      string
		warn       bool
	}{
		{"open, all interfaces", "0.0.0.0:0", "", true},
		{"open, loopback", "127.0.0.1:0", "", false},
		{"with a token, all interfaces", "0.0.0.0:0", "admin-token-0123456789", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs syncBuffer
			cfg := node.Config{
				Brokers: k.Brokers, Entities: demo.Entities(), DataDir: t.TempDir(), HTTPAddr: tc.addr,
				AdvertiseURL: "http://127.0.0.1:1", Partitions: 2, Replication: 1, Sarama: eventfoldtest.SaramaConfig(),
				Logger: slog.New(slog.NewTextHandler(&logs, nil)), Token: tc.token,
			}
			if tc.token != "" {
				cfg.ClusterSecret = []byte("cluster secret")
			}
			n, err := node.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- n.Run(ctx) }()
			eventfoldtest.Eventually(t, 30*time.Second, func() error {
				if !strings.Contains(logs.String(), "node started") || !n.Store().Recovered() {
					return fmt.Errorf("not started yet")
				}
				return nil
			})
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("Run: %v", err)
			}
			if got := strings.Contains(logs.String(), "needs no token and listens beyond loopback"); got != tc.warn {
				t.Errorf("warning logged: %v, want %v\n%s", got, tc.warn, logs.String())
			}
		})
	}
}
