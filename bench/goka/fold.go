package main

import (
	"encoding/json"
	"fmt"

	"github.com/eventfold/eventfold/demo/orders"
)

// orderCodec is the group table's goka codec: orders.Order as JSON (what
// eventfold's default state codec writes, without the envelope).
type orderCodec struct{}

func (orderCodec) Encode(value any) ([]byte, error) {
	o, ok := value.(orders.Order)
	if !ok {
		return nil, fmt.Errorf("orderCodec: %T is not an orders.Order", value)
	}
	return json.Marshal(o)
}

func (orderCodec) Decode(data []byte) (any, error) {
	var o orders.Order
	if err := json.Unmarshal(data, &o); err != nil {
		return nil, err
	}
	return o, nil
}

// apply is the whole fold of the plain goka processor: decode the event
// with the orders codec and evolve the stored state. ok is false when the
// event is undecodable or an invalid transition (skipped, state unchanged).
func apply(stored any, event []byte) (next orders.Order, ok bool) {
	ev, err := orders.Events.Decode(event)
	if err != nil {
		return orders.Order{}, false
	}
	var cur orders.Order
	if stored != nil {
		cur = stored.(orders.Order)
	}
	next, err = orders.Evolve(cur, ev)
	if err != nil {
		return orders.Order{}, false
	}
	return next, true
}
