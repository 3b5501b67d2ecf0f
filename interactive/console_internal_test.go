package interactive

import (
	"fmt"
	"testing"
	"time"
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
