package interactive

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/eventfold/eventfold/limits"
)

// A handler that panics answers 500 internal as JSON: never an empty reply.
func TestPanicInAHandlerIsA500JSONAnswer(t *testing.T) {
	s := &Server{cfg: defaultConfig()}
	h := s.recoverPanics(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		var n int32
		_ = 1 / n
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/registers/r-1/commands", nil))
	var body apiError
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != http.StatusInternalServerError || body.Code != CodeInternal {
		t.Fatalf("panicking handler = %d %q (%v), want 500 internal", rec.Code, rec.Body.String(), err)
	}
	// http.ErrAbortHandler keeps its meaning: abort the connection.
	abort := s.recoverPanics(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }))
	func() {
		defer func() {
			if v := recover(); v != http.ErrAbortHandler {
				t.Errorf("ErrAbortHandler recovered as %v", v)
			}
		}()
		abort.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	}()
}

// The body limit defaults to limits.EventBytes (New refuses more: see
// TestMaxBodyAboveEventBytesIsRefused).
func TestDefaultBodyLimitIsEventBytes(t *testing.T) {
	if got := defaultConfig().maxBody; got != limits.EventBytes {
		t.Errorf("default body limit %d, want limits.EventBytes %d", got, limits.EventBytes)
	}
}
