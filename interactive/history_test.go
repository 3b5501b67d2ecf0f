package interactive_test

import (
	"errors"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/eventfold/eventfold"
	"github.com/eventfold/eventfold/eventfoldtest"
)

// History and point-in-time reads through any node (forwarded to the owner).
func TestHistoryOverHTTP(t *testing.T) {
	k := eventfoldtest.NewKafka(t, 1)
	c := eventfoldtest.StartNodes(t, k, 2, entities(), nil)
	ctx := eventfoldtest.Context(t, time.Minute)
	a := c.Nodes()[0]
	for i := 0; i < 5; i++ {
		for v := 1; v <= 12; v++ {
			if _, err := a.Client.Append(ctx, "registers", fmt.Sprint("h-", i), setEvent(fmt.Sprint("v", v))); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := 0; i < 5; i++ {
		key := fmt.Sprint("h-", i)
		eventfoldtest.Eventually(t, 20*time.Second, func() error {
			ans, err := a.Client.Get(ctx, "registers", key)
			if err != nil || ans.Version != 12 {
				return fmt.Errorf("%s: %+v %v", key, ans, err)
			}
			return nil
		})
		for _, nd := range c.Nodes() {
			var all []int64
			after := int64(-1)
			for {
				page, err := nd.Client.History(ctx, "registers", key, after, 5)
				if err != nil {
					t.Fatal(err)
				}
				for j, e := range page.Events {
					want := fmt.Sprintf(`{"type":"Set","v":"v%d"}`, len(all)+1)
					if string(e.Payload) != want || !e.Applied || e.Type != "Set" || e.Version != uint64(len(all)+1) {
						t.Fatalf("%s event %d via %s: %+v", key, j, nd.ID(), e)
					}
					all = append(all, e.Offset)
				}
				if page.Next == nil {
					break
				}
				after = *page.Next
			}
			if len(all) != 12 {
				t.Fatalf("%s via %s: %d events", key, nd.ID(), len(all))
			}
			ans, err := nd.Client.Read(ctx, "registers", key, url.Values{"version": {"5"}})
			if err != nil || string(ans.State) != `{"v":"v5"}` || ans.Version != 5 || ans.Offset != all[4] {
				t.Fatalf("%s version 5 via %s: %+v %v", key, nd.ID(), ans, err)
			}
		}
	}
	for _, q := range []url.Values{{"version": {"13"}}, {"as_of": {"2001-01-01T00:00:00Z"}}} {
		if _, err := a.Client.Read(ctx, "registers", "h-1", q); !errors.Is(err, eventfold.ErrNotFound) {
			t.Errorf("%v: %v", q, err)
		}
	}
	ans, err := a.Client.Read(ctx, "registers", "h-1", url.Values{"as_of": {time.Now().Add(time.Hour).Format(time.RFC3339)}})
	if err != nil || ans.Version != 12 {
		t.Errorf("as_of the future: %+v %v", ans, err)
	}
	for _, q := range []string{"version=0", "as_of=yesterday", "version=1&as_of=2020-01-01T00:00:00Z"} {
		if s := get(t, a.URL(), "/v1/registers/h-1?"+q); s.status != 400 {
			t.Errorf("?%s = %+v", q, s)
		}
	}
	if s := get(t, a.URL(), "/v1/registers/h-1/events?limit=5000"); s.status != 400 {
		t.Errorf("limit=5000 = %+v", s)
	}
}
