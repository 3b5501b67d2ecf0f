package limits

import "unicode/utf8"

// Truncate cuts s to at most n bytes, "…" included, without splitting a
// UTF-8 sequence: how a text under a byte limit (an error in a header, a
// log line) is shortened.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:max(cut, 0)] + "…"
}
