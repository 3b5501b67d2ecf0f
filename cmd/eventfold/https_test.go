package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/eventfold/eventfold/eventfoldtest"
	"github.com/eventfold/eventfold/node"
)

func TestHTTPSFlags(t *testing.T) {
	f := eventfoldtest.NewTLSFiles(t)
	for _, tc := range []struct {
		name    string
		flags   httpsFlags
		wantErr string
		check   func(cfg node.Config) error
	}{
		{name: "none", check: func(cfg node.Config) error {
			if cfg.TLS != nil || cfg.PeerTLS != nil {
				return errors.New("TLS set without flags")
			}
			return nil
		}},
		{name: "API over HTTPS, mutual TLS between nodes", flags: httpsFlags{cert: f.ServerCert, key: f.ServerKey, clientCA: f.CA,
			peerCA: f.CA, peerCert: f.ClientCert, peerKey: f.ClientKey, peerCertRequired: true},
			check: func(cfg node.Config) error {
				if cfg.TLS == nil || len(cfg.TLS.Certificates) != 1 || cfg.TLS.ClientAuth != tls.VerifyClientCertIfGiven || cfg.TLS.ClientCAs == nil {
					return fmt.Errorf("server TLS %+v", cfg.TLS)
				}
				if cfg.PeerTLS == nil || cfg.PeerTLS.RootCAs == nil || len(cfg.PeerTLS.Certificates) != 1 || !cfg.PeerCertRequired {
					return fmt.Errorf("peer TLS %+v", cfg.PeerTLS)
				}
				return nil
			}},
		{name: "a certificate without its key", flags: httpsFlags{cert: f.ServerCert}, wantErr: "go together"},
		{name: "a peer certificate without its key", flags: httpsFlags{peerCert: f.ClientCert}, wantErr: "go together"},
		{name: "client CA without HTTPS", flags: httpsFlags{clientCA: f.CA}, wantErr: "need --tls-cert"},
		{name: "peer certificate required without a client CA", flags: httpsFlags{cert: f.ServerCert, key: f.ServerKey, peerCertRequired: true}, wantErr: "needs --tls-client-ca-file"},
		{name: "a CA file that is not PEM", flags: httpsFlags{peerCA: f.ServerKey}, wantErr: "no PEM certificate"},
		{name: "a key that does not match", flags: httpsFlags{cert: f.ServerCert, key: f.ClientKey}, wantErr: "--tls-cert/--tls-key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cfg node.Config
			if wantErr(t, tc.flags.apply(&cfg), tc.wantErr) {
				return
			}
			if err := tc.check(cfg); err != nil {
				t.Error(err)
			}
		})
	}
}

// serve over HTTPS with a token: readyz, an append and a read, through a
// client that trusts the test CA; the token comes from the environment.
func TestServeOverHTTPSWithATokenFromTheEnvironment(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	f := eventfoldtest.NewTLSFiles(t)
	t.Setenv(envToken, "env-admin-token-0123456789")
	t.Setenv(envClusterSecret, "env-cluster-secret")
	port := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--brokers", k.Brokers[0], "--partitions", "2", "--replication", "1", "--data-dir", t.TempDir(),
			"--http", fmt.Sprintf("127.0.0.1:%d", port), "--tls-cert", f.ServerCert, "--tls-key", f.ServerKey, "--log-level", "error"})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("serve: %v", err)
		}
	})
	caPEM, err := os.ReadFile(f.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	base := fmt.Sprintf("https://127.0.0.1:%d", port)
	do := func(method, path, body string) int {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer env-admin-token-0123456789")
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := client.Do(req)
		if err != nil {
			return -1
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	eventfoldtest.Eventually(t, 60*time.Second, func() error {
		if code := do("GET", "/readyz", ""); code != 200 {
			return fmt.Errorf("readyz %d", code)
		}
		return nil
	})
	if code := do("POST", "/v1/orders/o-1/events", `{"type":"OrderCreated","customer_id":"c-1"}`); code != 202 {
		t.Fatalf("append over HTTPS = %d", code)
	}
	eventfoldtest.Eventually(t, 30*time.Second, func() error {
		if code := do("GET", "/v1/orders/o-1", ""); code != 200 {
			return fmt.Errorf("get %d", code)
		}
		return nil
	})
	// The client commands: the token from EVENTFOLD_TOKEN, the CA from --ca-file.
	if err := run(context.Background(), []string{"get", "--url", base, "--ca-file", f.CA, "orders", "o-1"}); err != nil {
		t.Errorf("get over HTTPS with --ca-file: %v", err)
	}
	if err := run(context.Background(), []string{"get", "--url", base, "orders", "o-1"}); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("get over HTTPS without the CA: %v, want a certificate error", err)
	}
	if resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", port)); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("plain HTTP answered 200 on an HTTPS port")
		}
	}
}
