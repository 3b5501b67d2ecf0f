package main

import (
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	var ready atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" || !ready.Load() {
			http.Error(w, `{"error":"owned partitions are recovering"}`, http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte(`{"status":"ready"}`))
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	if err := check(ctx, srv.Client(), srv.URL+"/readyz"); err == nil {
		t.Fatal("503 passed the check")
	}
	ready.Store(true)
	if err := check(ctx, srv.Client(), srv.URL+"/readyz"); err != nil {
		t.Fatalf("200 failed the check: %v", err)
	}
	if err := check(ctx, srv.Client(), "http://127.0.0.1:1/readyz"); err == nil {
		t.Fatal("a refused connection passed the check")
	}
}

// An https:// URL is checked against the CA given with --ca-file.
func TestCheckOverHTTPSWithACAFile(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte(`{"status":"ready"}`)) }))
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := check(ctx, http.DefaultClient, srv.URL+"/readyz"); err == nil {
		t.Fatal("an untrusted certificate passed the check")
	}
	c, err := client(ca)
	if err != nil {
		t.Fatal(err)
	}
	if err := check(ctx, c, srv.URL+"/readyz"); err != nil {
		t.Fatalf("with --ca-file: %v", err)
	}
	if _, err := client(filepath.Join(t.TempDir(), "missing.pem")); err == nil {
		t.Error("a missing CA file was accepted")
	}
}
