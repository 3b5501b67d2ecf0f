package interactive_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/eventfold/eventfold/interactive"
)

// The OpenAPI document lists every route the server has, and every error code.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	doc := string(interactive.OpenAPI)
	for _, path := range []string{"/v1/{entity}:", "/v1/{entity}/{id}:", "/v1/projections/{entity}:", "/v1/projections/{entity}/{id}:", "/v1/{entity}/{id}/events:", "/v1/{entity}/{id}/commands:",
		"/v1/cluster:", "/v1/cluster/partitions:", "/v1/deadletters/{entity}:", "/v1/whoami:", "/v1/subscribers:", "/v1/subscribers/{name}/{action}:", "/v1/openapi.yaml:", "/healthz:", "/readyz:", "/metrics:"} {
		if !strings.Contains(doc, "\n  "+path) {
			t.Errorf("openapi.yaml lacks %s", path)
		}
	}
	for _, code := range []string{interactive.CodeNotFound, interactive.CodeNotOwner, interactive.CodeNotRecovered,
		interactive.CodeStale, interactive.CodeInvalid, interactive.CodeTooLarge, interactive.CodeUnavailable,
		interactive.CodeUnauthorized, interactive.CodeUnsupportedMediaType, interactive.CodeTimeout, interactive.CodeConflict, interactive.CodeRejected, interactive.CodeInternal} {
		if !regexp.MustCompile(`enum: \[[^\]]*\b` + code + `\b`).MatchString(doc) {
			t.Errorf("openapi.yaml lacks error code %s", code)
		}
	}
	for _, q := range []string{"consistency", "max_lag", "min_offset", "version", "as_of", "after", "limit", "expected_version", "If-Match", "Idempotency-Key"} {
		if !strings.Contains(doc, "name: "+q) {
			t.Errorf("openapi.yaml lacks parameter %s", q)
		}
	}
}
