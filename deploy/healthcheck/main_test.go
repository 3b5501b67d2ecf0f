package main

import (
	"context"
	"net/http"
	"net/http/httptest"
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
