package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"

	"github.com/eventfold/eventfold/bench/gen"
	"github.com/eventfold/eventfold/demo/orders"
)

// parity checks that the Kafka Streams contender's fold (its Java port of
// orders.Evolve and its state JSON) ends, for every order, in exactly the
// bytes Go's fold writes.
func parity(c config) error {
	ds := gen.Orders(c.seed+1000, 2000, 40000)
	// A few hand-made edge cases on top: unknown type, bad JSON, zero quantity, ...
	extra := []gen.Record{
		{Key: "order-edge-1", Value: []byte(`{"type":"OrderCreated","customer_id":"c-1"}`)},
		{Key: "order-edge-1", Value: []byte(`{"type":"Refunded"}`)},
		{Key: "order-edge-1", Value: []byte(`{"type":"ItemAdded","sku":"B","quantity":0,"price_cents":5}`)},
		{Key: "order-edge-1", Value: []byte(`{"type":"ItemAdded","sku":"B","quantity":5,"price_cents":1250}`)},
		{Key: "order-edge-1", Value: []byte(`{"type":"ItemAdded","sku":"A","quantity":1,"price_cents":-1}`)},
		{Key: "order-edge-1", Value: []byte(`{"type":"ItemAdded","sku":"A","quantity":2,"price_cents":100}`)},
		{Key: "order-edge-1", Value: []byte(`{"type":"QuantityChanged","sku":"B","quantity":6}`)},
		{Key: "order-edge-1", Value: []byte(`not json`)},
		{Key: "order-edge-1", Value: []byte(`{"type":"OrderApproved"}`)},
		{Key: "order-edge-1", Value: []byte(`{"type":"OrderCancelled","reason":"changed mind"}`)},
		{Key: "order-edge-2", Value: []byte(`{"type":"OrderCreated","customer_id":""}`)},
		{Key: "order-edge-3", Value: []byte(`{"type":"OrderShipped"}`)},
		{Key: "order-edge-3", Value: []byte(`{"type":"OrderCreated","customer_id":"c-3","created_at":"2024-02-03T04:05:06Z"}`)},
		{Key: "order-edge-3", Value: []byte(`{"type":"OrderApproved","approved_by":"x"}`)},
	}
	recs := append(ds.Records, extra...)

	var in bytes.Buffer
	want := map[string]orders.Order{}
	var keys []string
	for _, r := range recs {
		in.WriteString(r.Key)
		in.WriteByte('\t')
		in.Write(r.Value)
		in.WriteByte('\n')
		ev, err := orders.Events.Decode(r.Value)
		if err != nil {
			continue
		}
		cur, seen := want[r.Key]
		if next, err := orders.Evolve(cur, ev); err == nil {
			if !seen {
				keys = append(keys, r.Key)
			}
			want[r.Key] = next
		}
	}
	cmd := exec.Command(c.java, "-cp", c.kstreamsCP, "io.eventfold.bench.OrdersApp", "parity")
	cmd.Stdin = &in
	out, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return fmt.Errorf("parity: java: %v: %s", err, ee.Stderr)
		}
		return fmt.Errorf("parity: java: %w", err)
	}
	got := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), "\t")
		got[k] = v
	}
	if len(got) != len(want) {
		return fmt.Errorf("parity: Java folded %d orders, Go %d", len(got), len(want))
	}
	for _, k := range keys {
		b, _ := json.Marshal(want[k])
		if got[k] != string(b) {
			return fmt.Errorf("parity: %s: Java %s, Go %s", k, got[k], b)
		}
	}
	fmt.Printf("parity: the Kafka Streams fold equals orders.Evolve on %d events over %d orders (state JSON byte for byte)\n", len(recs), len(want))
	return nil
}
