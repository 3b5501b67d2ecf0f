package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eventfold/eventfold/entity"
	"github.com/eventfold/eventfold/eventfoldtest"
	"github.com/eventfold/eventfold/kafka"
	"github.com/eventfold/eventfold/processor"
)

// The hardening issue's critical repro, against a dev node: requests that
// used to stop a node for good (an event whose envelope outgrew a Kafka
// record) get 202, the event goes to the dead-letter topic with reason
// state_too_large within seconds, /readyz stays 200 and other keys are
// served as before.
func TestOneRequestCannotStopANode(t *testing.T) {
	base, brokerAddr := startDev(t)
	get := func(path string) (int, []byte) {
		resp, err := http.Get(base + path)
		if err != nil {
			return 0, nil
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	post := func(path, body string) (int, []byte) {
		t.Helper()
		resp, err := http.Post(base+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	eventfoldtest.Eventually(t, 30*time.Second, func() error {
		if code, _ := get("/readyz"); code != 200 {
			return fmt.Errorf("readyz %d", code)
		}
		return nil
	})

	// HTML-escape amplification: 180 KB of '<' was a 1.08 MB envelope.
	code, body := post("/v1/orders/p1/events", `{"type":"OrderCreated","customer_id":"`+strings.Repeat("<", 180_000)+`"}`)
	if code != http.StatusAccepted {
		t.Fatalf("amplification event: %d %s", code, body)
	}
	// State growth: two events, each well under the limit, make one order
	// over a record.
	big := strings.Repeat("x", 600_000)
	if code, body := post("/v1/orders/p2/events", `{"type":"OrderCreated","customer_id":"`+big+`"}`); code != http.StatusAccepted {
		t.Fatalf("first large event: %d %.200s", code, body)
	}
	code, body = post("/v1/orders/p2/events", `{"type":"ItemAdded","sku":"`+big+`","quantity":1,"price_cents":1}`)
	if code != http.StatusAccepted {
		t.Fatalf("second large event: %d %.200s", code, body)
	}
	var pos kafka.Position
	if err := json.Unmarshal(body, &pos); err != nil {
		t.Fatal(err)
	}

	brokers := []string{brokerAddr}
	eventfoldtest.Eventually(t, 20*time.Second, func() error {
		msgs, err := kafka.ReadAll(context.Background(), brokers, eventfoldtest.SaramaConfig(), "orders-events-dlq")
		if err != nil {
			return err
		}
		for _, m := range msgs {
			h := map[string]string{}
			for _, hd := range m.Headers {
				h[string(hd.Key)] = string(hd.Value)
			}
			if h[processor.HeaderSourceOffset] == strconv.FormatInt(pos.Offset, 10) && h[processor.HeaderSourcePartition] == strconv.Itoa(int(pos.Partition)) {
				if h[processor.HeaderReason] != string(entity.ReasonStateTooLarge) {
					return fmt.Errorf("dead letter reason %q", h[processor.HeaderReason])
				}
				return nil
			}
		}
		return fmt.Errorf("no dead letter for %v among %d", pos, len(msgs))
	})
	for _, tc := range []struct {
		path    string
		version float64
	}{{"/v1/orders/p1", 1}, {"/v1/orders/p2", 1}, {"/v1/orders/order-42", 3}} {
		code, body := get(tc.path)
		var e struct{ Version float64 }
		_ = json.Unmarshal(body, &e)
		if code != 200 || e.Version != tc.version {
			t.Errorf("GET %s: %d, version %v, want 200 and %v", tc.path, code, e.Version, tc.version)
		}
	}
	if code, body := get("/readyz"); code != 200 {
		t.Errorf("/readyz %d %s after the large events", code, body)
	}
	// A command that would outgrow the record is refused before it appends.
	code, body = post("/v1/orders/p2/commands", `{"type":"AddItem","sku":"`+big+`","quantity":1,"price_cents":1}`)
	if code != http.StatusUnprocessableEntity || !bytes.Contains(body, []byte(`"state_too_large"`)) {
		t.Errorf("oversized command: %d %.300s, want 422 state_too_large", code, body)
	}
}
