package interactive

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/eventfold/eventfold/table"
)

// historyWhole is how a history page was encoded before it was streamed:
// one HistoryResponse, JSON-encoded whole.
func historyWhole(entityName, id string, limit int, page table.HistoryPage) []byte {
	out := HistoryResponse{Entity: entityName, ID: id, Events: []HistoryEvent{}, Limit: limit}
	if page.Next >= 0 {
		out.Next = &page.Next
	}
	for _, e := range page.Events {
		payload := json.RawMessage(e.Payload)
		if !json.Valid(e.Payload) {
			payload, _ = json.Marshal(string(e.Payload))
		}
		out.Events = append(out.Events, HistoryEvent{Partition: e.Partition, Offset: e.Offset, Timestamp: e.Timestamp,
			Type: e.Type, Applied: e.Applied, Version: e.Version, Payload: payload})
	}
	var b bytes.Buffer
	_ = json.NewEncoder(&b).Encode(out)
	return b.Bytes()
}

// The streamed page is byte for byte the page encoded whole: compacted
// JSON payloads with HTML escaping, non-JSON payloads as strings, empty
// and nil payloads, next set or null, no events at all.
func TestStreamedHistoryPageIsTheWholeEncoding(t *testing.T) {
	at := time.Date(2026, 12, 3, 8, 0, 0, 123_000_000, time.UTC)
	events := []table.HistoryEvent{
		{Partition: 3, Offset: 10, Timestamp: at, Type: "Set", Payload: []byte(`{"type":"Set","v":"a"}`), Applied: true, Version: 1},
		{Partition: 3, Offset: 12, Timestamp: at, Type: "Set", Payload: []byte("{ \"type\" : \"Set\",\n \"v\": \"<b>&amp;\u2028</b>\" }"), Applied: true, Version: 2},
		{Partition: 3, Offset: 13, Timestamp: at, Payload: []byte("not json \xff\x00 <x>"), Version: 2},
		{Partition: 3, Offset: 15, Timestamp: at, Payload: []byte{}, Version: 2},
		{Partition: 3, Offset: 16, Timestamp: at, Payload: nil, Version: 2},
		{Partition: 3, Offset: 17, Timestamp: at, Type: "Set", Payload: []byte(`[1, 2 ,3]`), Applied: false, Version: 2},
	}
	for _, tc := range []struct {
		name string
		page table.HistoryPage
	}{
		{"more", table.HistoryPage{Events: events, Next: 17}},
		{"last", table.HistoryPage{Events: events[:2], Next: -1}},
		{"empty", table.HistoryPage{Next: -1}},
	} {
		rec := httptest.NewRecorder()
		if err := writeHistory(rec, "regi<sters>", "id \"&\" 1", 7, tc.page); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		want := historyWhole("regi<sters>", "id \"&\" 1", 7, tc.page)
		if got := rec.Body.Bytes(); !bytes.Equal(got, want) {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, want)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" || rec.Code != 200 {
			t.Errorf("%s: status %d, content type %q", tc.name, rec.Code, ct)
		}
		var back HistoryResponse
		if err := json.Unmarshal(rec.Body.Bytes(), &back); err != nil || len(back.Events) != len(tc.page.Events) {
			t.Errorf("%s: decodes to %d events, %v", tc.name, len(back.Events), err)
		}
	}
}
