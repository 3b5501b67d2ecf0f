package limits

import (
	"testing"
	"unicode/utf8"
)

func TestTruncate(t *testing.T) {
	for _, tc := range []struct {
		s    string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"a longer text", 8, "a lon…"},
		{"ééééé", 7, "éé…"}, // 2-byte runes: cut before a split one
		{"abc", 2, "…"},     // no room but for the mark
	} {
		got := Truncate(tc.s, tc.n)
		if got != tc.want || len(got) > max(tc.n, len("…")) || !utf8.ValidString(got) {
			t.Errorf("Truncate(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
		}
	}
}
