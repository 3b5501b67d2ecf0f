package interactive

import (
	_ "embed"
	"net/http"
)

// OpenAPI is the OpenAPI 3 document of the HTTP API, served at
// GET /v1/openapi.yaml. A test checks that it lists every route.
//
//go:embed openapi.yaml
var OpenAPI []byte

func openAPI(*http.Request) (any, error) { return openAPIDoc{}, nil }

// openAPIDoc answers YAML, not JSON.
type openAPIDoc struct{}

func (openAPIDoc) respond(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/yaml")
	_, _ = w.Write(OpenAPI)
}
