package processor

import (
	"testing"

	"github.com/lovoo/goka"
)

// Command headers come from whoever produced the event.
func FuzzCommandHeaders(f *testing.F) {
	f.Add("id", "3", "0/2", "")
	f.Add("id", "3", "1/1", "ff")
	f.Add("", "3", "0/1", "")
	f.Add("id", "-1", "0/1", "")
	f.Add("id", "3", "2/1", "")
	f.Add("id", "3", "0/0", "")
	f.Add("id", "18446744073709551616", "0/1", "")
	f.Add("id", "3", "0/1", "zz")
	f.Add("id", "3", "99999999999999999999/1", "")
	f.Fuzz(func(t *testing.T, id, expected, batch, fp string) {
		h := goka.Headers{HeaderCommandID: []byte(id), HeaderExpectedVersion: []byte(expected), HeaderBatch: []byte(batch)}
		if fp != "" {
			h[HeaderFingerprint] = []byte(fp)
		}
		c, ok, err := commandHeaders(h)
		if err != nil || !ok {
			return
		}
		if c.n < 1 || c.index < 0 || c.index >= c.n || c.id == "" || len(c.id) > 256 {
			t.Fatalf("accepted %+v from %q %q %q", c, id, expected, batch)
		}
	})
}
