package systemtest

import (
	"encoding/json"
	"fmt"
)

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
