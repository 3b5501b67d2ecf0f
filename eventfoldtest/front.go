package eventfoldtest

import (
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"
)

// front is a reverse proxy in front of a node's HTTP server: the node
// advertises the front's URL, so cutting the front cuts the node off.
type front struct {
	url      string
	dest     atomic.Pointer[httputil.ReverseProxy]
	isolated atomic.Bool
}

func newFront(t testing.TB) *front {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &front{url: "http://" + ln.Addr().String()}
	srv := &http.Server{Handler: http.HandlerFunc(f.serve)}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return f
}

func (f *front) target(raw string) {
	u, _ := url.Parse(raw)
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.Transport = &http.Transport{MaxIdleConnsPerHost: 64}
	// A stopped node is unreachable, as it would be without the front.
	rp.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, _ error) { cut(w) }
	f.dest.Store(rp)
}

func (f *front) serve(w http.ResponseWriter, r *http.Request) {
	rp := f.dest.Load()
	if f.isolated.Load() || rp == nil {
		cut(w)
		return
	}
	rp.ServeHTTP(w, r)
}

// cut closes the connection: the caller sees a transport error, not an answer.
func cut(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}
