package orders

import (
	"testing"
)

// Commands and events arrive as request bodies and as records anyone may
// produce: decoding them and running the domain on them must never panic,
// and an event Decide returns must encode and decode back to itself.
func FuzzCommandDecodeAndDecide(f *testing.F) {
	for _, s := range []string{
		`{"type":"PlaceOrder","customer_id":"c-1","items":[{"sku":"BOOK-1","quantity":5,"price_cents":1250}]}`,
		`{"type":"AddItem","sku":"A","quantity":1,"price_cents":0}`,
		`{"type":"ChangeQuantity","sku":"A","quantity":-1}`,
		`{"type":"CreateOrder","customer_id":"<>&"}`,
		`{"type":"PlaceOrder","Type":"ShipOrder"}`,
		`{"type":"ShipOrder","items":null}`,
		`{"type":"PlaceOrder","items":[{"quantity":99999999999999999999}]}`,
		"{\"type\":\"CreateOrder\",\"customer_id\":\"\xff\"}",
		`[]`, ``,
	} {
		f.Add([]byte(s), []byte(`{"type":"OrderCreated","customer_id":"c"}`))
	}
	f.Fuzz(func(t *testing.T, cmd, event []byte) {
		var o Order
		if ev, err := Events.Decode(event); err == nil {
			o, _ = Evolve(o, ev)
		}
		c, err := Commands.Decode(cmd)
		if err != nil {
			return
		}
		events, err := Decide(o, c)
		if err != nil {
			return
		}
		for _, ev := range events {
			b, err := Events.Encode(ev)
			if err != nil {
				t.Fatalf("Decide returned an event that does not encode: %#v: %v", ev, err)
			}
			if _, err := Events.Decode(b); err != nil {
				t.Fatalf("Decide returned an event that does not decode back: %s: %v", b, err)
			}
			if o, err = Evolve(o, ev); err != nil {
				t.Fatalf("Decide returned an event its own Evolve refuses: %s: %v", b, err)
			}
		}
	})
}
