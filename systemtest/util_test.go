package systemtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
)

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

func jsonDecodeResp(resp *http.Response, v any) error {
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}

func compact(b []byte) []byte {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return b
	}
	return buf.Bytes()
}

// jsonEqual compares two JSON documents by value.
func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}
