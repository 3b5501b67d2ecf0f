package interactive

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/eventfold/eventfold"
	"github.com/eventfold/eventfold/limits"
)

// An ownership change is remembered with the partitions that moved and the
// members after it; the ring keeps the last maxRebalances, oldest first.
func TestRebalancesRememberTheLastChanges(t *testing.T) {
	prev := &Snapshot{Owners: map[string]map[int32]string{
		"orders": {0: "a", 1: "a", 2: "b"},
		"users":  {0: "b"},
	}}
	next := &Snapshot{Time: time.Unix(100, 0), Revision: 7, Members: map[string]Member{"c": {}, "a": {}},
		Owners: map[string]map[int32]string{
			"orders": {0: "a", 1: "c"}, // 1 moved, 2 lost
			"users":  {0: "c"},         // moved
			"items":  {0: "a"},         // new
		}}
	r := rebalance(prev, next)
	if r.Moved != 4 || r.Revision != 7 || !r.At.Equal(time.Unix(100, 0)) || fmt.Sprint(r.Members) != "[a c]" {
		t.Errorf("rebalance = %+v, want 4 moved, revision 7, members [a c]", r)
	}

	o := &Ownership{}
	if got := o.Rebalances(); got == nil || len(got) != 0 {
		t.Errorf("no change yet: %v, want an empty list", got)
	}
	for i := 1; i <= maxRebalances+5; i++ {
		o.remember(Rebalance{Revision: int64(i)})
	}
	got := o.Rebalances()
	if len(got) != maxRebalances || got[0].Revision != 6 || got[len(got)-1].Revision != maxRebalances+5 {
		t.Fatalf("after %d changes: %d kept, from %d to %d; want the last %d", maxRebalances+5, len(got), got[0].Revision, got[len(got)-1].Revision, maxRebalances)
	}
	got[0].Revision = -1 // a copy: the ring is not the caller's
	if o.Rebalances()[0].Revision != 6 {
		t.Error("Rebalances returned the ring itself")
	}
}

// The dead-letter cursor round-trips, and anything else is 400 invalid.
func TestDeadLetterCursor(t *testing.T) {
	c := encodeCursor([]int32{0, 1, 11}, map[int32]int64{0: 5, 11: 1 << 40})
	got, err := decodeCursor(c)
	if err != nil || len(got) != 3 || got[0] != 5 || got[1] != 0 || got[11] != 1<<40 {
		t.Fatalf("round trip %q = %v, %v", c, got, err)
	}
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for _, bad := range []string{"", "!!!", b64("0:5") + "=", b64(""), b64("0"), b64("0:"), b64(":5"), b64("0:x"), b64("-1:5"), b64("0:-5"),
		b64("+0:5"), b64("0:+5"), b64("0:5,0:6"), b64("0:5,"), b64("99999999999:0"), b64("0:99999999999999999999")} {
		if _, err := decodeCursor(bad); !errors.Is(err, eventfold.ErrInvalid) {
			t.Errorf("cursor %q: %v, want ErrInvalid", bad, err)
		}
	}
}

// A dead letter's value is shown as text or base64, cut to
// limits.DeadLetterValueBytes without splitting a character.
func TestDeadLetterValueShown(t *testing.T) {
	long := strings.Repeat("x", limits.DeadLetterValueBytes-1) + "é" // the é straddles the cut
	bin := []byte{0xff, 0xfe, 0, 1}
	for _, tc := range []struct {
		name      string
		v         []byte
		shown     string
		enc       string
		truncated bool
	}{
		{"empty", nil, "", "text", false},
		{"json", []byte(`{"type":"OrderShipped"}`), `{"type":"OrderShipped"}`, "text", false},
		{"at the limit", []byte(strings.Repeat("y", limits.DeadLetterValueBytes)), strings.Repeat("y", limits.DeadLetterValueBytes), "text", false},
		{"long text", []byte(long), strings.Repeat("x", limits.DeadLetterValueBytes-1), "text", true},
		{"binary", bin, base64.StdEncoding.EncodeToString(bin), "base64", false},
		{"long binary", append(bin, make([]byte, 10_000)...), base64.StdEncoding.EncodeToString(append(bin, make([]byte, limits.DeadLetterValueBytes/4*3-len(bin))...)), "base64", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			shown, enc, truncated := showValue(tc.v)
			if shown != tc.shown || enc != tc.enc || truncated != tc.truncated || len(shown) > limits.DeadLetterValueBytes {
				t.Errorf("showValue = %d bytes %s truncated %v, want %d bytes %s truncated %v", len(shown), enc, truncated, len(tc.shown), tc.enc, tc.truncated)
			}
		})
	}
}
