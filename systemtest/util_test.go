package systemtest

import (
	"encoding/json"
	"fmt"
	"net/http"
)

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

func jsonDecodeResp(resp *http.Response, v any) error {
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}
