// Package gen generates the benchmark's input: order events (the event
// types of demo/orders) for many entities, interleaved the way a busy
// events topic sees them, deterministic for a seed.
//
// It follows demo.Generate's lifecycle rules (created, items added and
// quantities changed, approved, then shipped or cancelled, or still open;
// about 1 in 64 events a deliberate invalid transition) but only for
// orders, in parallel, and with an event metadata object ("meta": event
// id, time, source, trace id) that every consumer ignores, so events are
// 100–300 bytes of JSON like real ones rather than demo's ~65.
package gen

import (
	"encoding/hex"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/eventfold/eventfold/demo/orders"
)

// Record is one event to produce: key = order id, value = event JSON.
type Record struct {
	Key   string
	Value []byte
}

// Dataset is a generated stream.
type Dataset struct {
	Records []Record // in topic order
	// Applied is how many events orders.Evolve applies (the rest are
	// invalid transitions an exact fold skips).
	Applied int
	// Exists is how many orders exist after the fold (OrderCreated applied).
	Exists int
	// Bytes is the total size of the values.
	Bytes int64
}

// ID is the key of order i (0-based), as Orders generates it.
func ID(i int) string { return fmt.Sprintf("order-%06d", i+1) }

// invalidOneIn: about 1.6% of the events are invalid transitions.
const invalidOneIn = 64

var (
	start = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	step  = 250 * time.Millisecond
)

// Orders generates events events over entities orders. Every order gets at
// least one event when events >= entities; the rest are spread at random.
// Each order's events keep their order in the output; orders interleave
// uniformly at random.
func Orders(seed int64, entities, events int) Dataset {
	if entities <= 0 || events <= 0 {
		return Dataset{}
	}
	r := newRNG(seed, 0)
	counts := make([]int32, entities)
	rest := events
	if events >= entities {
		for i := range counts {
			counts[i] = 1
		}
		rest -= entities
	}
	for ; rest > 0; rest-- {
		counts[r.intn(entities)]++
	}
	// One token per event, shuffled: token j says whose event comes j-th.
	order := make([]int32, 0, events)
	for i, n := range counts {
		for range n {
			order = append(order, int32(i))
		}
	}
	for j := len(order) - 1; j > 0; j-- {
		k := r.intn(j + 1)
		order[j], order[k] = order[k], order[j]
	}
	// Positions of each entity's events (for their timestamps).
	offsets := make([]int32, entities+1)
	for i, n := range counts {
		offsets[i+1] = offsets[i] + n
	}
	pos := make([]int32, events)
	fill := make([]int32, entities)
	for j, i := range order {
		pos[offsets[i]+fill[i]] = int32(j)
		fill[i]++
	}

	// Plan every entity in parallel.
	data := make([][]byte, events) // by entity, then event: data[offsets[i]+k]
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var applied, exists int
	var size int64
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var a, e int
			var b int64
			for i := w; i < entities; i += workers {
				lo, hi := offsets[i], offsets[i+1]
				ok, ex := planOrder(newRNG(seed, uint64(i)+1), i, pos[lo:hi], data[lo:hi])
				a += ok
				if ex {
					e++
				}
				for _, d := range data[lo:hi] {
					b += int64(len(d))
				}
			}
			mu.Lock()
			applied, exists, size = applied+a, exists+e, size+b
			mu.Unlock()
		}()
	}
	wg.Wait()

	ids := make([]string, entities)
	for i := range ids {
		ids[i] = ID(i)
	}
	out := make([]Record, events)
	for i := range fill {
		fill[i] = 0
	}
	for j, i := range order {
		out[j] = Record{Key: ids[i], Value: data[offsets[i]+fill[i]]}
		fill[i]++
	}
	return Dataset{Records: out, Applied: applied, Exists: exists, Bytes: size}
}

type product struct {
	sku   string
	price int64
}

var catalog = []product{
	{"BOOK-0042", 1999}, {"BOOK-1984", 1450}, {"MUG-BLUE", 899}, {"MUG-RED", 899},
	{"TEA-EARLGREY", 650}, {"TEA-SENCHA", 1125}, {"COFFEE-1KG", 2490}, {"PEN-BLACK", 199},
	{"PEN-GOLD", 4900}, {"NOTEBOOK-A5", 575}, {"LAMP-DESK", 3999}, {"CABLE-USBC", 1299},
	{"SOCKS-WOOL", 1500}, {"CHAIR-OAK", 18900}, {"PLANT-FERN", 2250}, {"APPLE-1KG", 349},
}

var (
	clerks        = []string{"clerk-ana", "clerk-bo", "clerk-chen", "clerk-dara", "system"}
	carriers      = []string{"DHL", "UPS", "FedEx", "USPS", "PostNL"}
	cancelReasons = []string{"customer request", "payment failed", "out of stock", "duplicate order", "address could not be verified"}
	sources       = []string{"checkout-api", "backoffice", "warehouse-sync", "support-console"}
)

type ending int

const (
	endOpen ending = iota
	endApproved
	endShipped
	endCancelledOpen
	endCancelledLater
)

func (e ending) tail() int {
	switch e {
	case endApproved, endCancelledOpen:
		return 1
	case endShipped, endCancelledLater:
		return 2
	}
	return 0
}

func (e ending) minEvents() int {
	if e == endCancelledOpen {
		return 2
	}
	return 1 + min(e.tail(), 1) + e.tail()
}

// planOrder writes the events of order i (at topic positions pos) into
// out and returns how many Evolve applies and whether the order exists.
func planOrder(r *rng, i int, pos []int32, out [][]byte) (int, bool) {
	n := len(pos)
	invalid := make([]bool, n)
	valid := n
	for k := range invalid {
		if r.intn(invalidOneIn) == 0 {
			invalid[k] = true
			valid--
		}
	}
	var end ending
	switch x := r.intn(100); {
	case x < 65:
		end = endShipped
	case x < 72:
		end = endCancelledLater
	case x < 82:
		end = endCancelledOpen
	case x < 90:
		end = endApproved
	}
	if valid < end.minEvents() {
		end = endOpen
	}
	itemEvents := max(valid-1-end.tail(), 0)
	customer := fmt.Sprintf("customer-%06d", r.intn(50000)+1)
	id := ID(i)

	var state orders.Order
	applied, v := 0, 0
	for k := range n {
		at := start.Add(time.Duration(pos[k]) * step)
		var ev orders.Event
		if invalid[k] {
			ev = invalidEvent(r, state)
		} else {
			switch {
			case v == 0:
				ev = &orders.OrderCreated{CustomerID: customer, CreatedAt: at.Format(time.RFC3339)}
			case v <= itemEvents:
				ev = itemEvent(r, state)
			default:
				ev = tailEvent(r, end, v-1-itemEvents)
			}
			v++
		}
		if next, err := orders.Evolve(state, ev); err == nil {
			state = next
			applied++
		}
		b, err := orders.Events.Encode(ev)
		if err != nil || len(b) < 2 || b[len(b)-1] != '}' {
			panic(fmt.Sprintf("gen: encoding %T: %v", ev, err))
		}
		out[k] = appendMeta(b[:len(b)-1], r, id, k, at)
	}
	return applied, state.Exists()
}

// appendMeta closes the event object with a metadata object the folds ignore.
func appendMeta(b []byte, r *rng, id string, k int, at time.Time) []byte {
	var trace [16]byte
	for j := 0; j < 16; j += 8 {
		x := r.next()
		for m := range 8 {
			trace[j+m] = byte(x >> (8 * m))
		}
	}
	out := make([]byte, 0, len(b)+160)
	out = append(out, b...)
	out = append(out, `,"meta":{"event_id":"`...)
	out = append(out, id...)
	out = append(out, '-')
	out = strconv.AppendInt(out, int64(k+1), 10)
	out = append(out, `","occurred_at":"`...)
	out = at.AppendFormat(out, "2006-01-02T15:04:05.000Z07:00")
	out = append(out, `","source":"`...)
	out = append(out, pick(r, sources)...)
	out = append(out, `","trace_id":"`...)
	out = hex.AppendEncode(out, trace[:])
	out = append(out, `"}}`...)
	return out
}

func itemEvent(r *rng, o orders.Order) orders.Event {
	if len(o.Items) == 0 || (len(o.Items) < len(catalog) && r.intn(100) < 55) {
		p := missingProduct(r, o)
		return &orders.ItemAdded{SKU: p.sku, Quantity: 1 + r.intn(3) + r.intn(3), PriceCents: p.price}
	}
	it := o.Items[r.intn(len(o.Items))]
	q := it.Quantity + 1
	if it.Quantity > 1 && (r.intn(100) < 40 || it.Quantity >= 99) {
		q = it.Quantity - 1
	}
	return &orders.QuantityChanged{SKU: it.SKU, Quantity: q}
}

func missingProduct(r *rng, o orders.Order) product {
	for range 2 * len(catalog) {
		p := catalog[r.intn(len(catalog))]
		if _, ok := o.Item(p.sku); !ok {
			return p
		}
	}
	for _, p := range catalog {
		if _, ok := o.Item(p.sku); !ok {
			return p
		}
	}
	return catalog[0]
}

func tailEvent(r *rng, end ending, i int) orders.Event {
	switch {
	case end == endCancelledOpen:
		return &orders.OrderCancelled{Reason: pick(r, cancelReasons)}
	case i == 0:
		return &orders.OrderApproved{ApprovedBy: pick(r, clerks)}
	case end == endShipped:
		c := pick(r, carriers)
		return &orders.OrderShipped{Carrier: c, TrackingNumber: fmt.Sprintf("%s%010d", strings.ToUpper(c[:2]), r.intn(1e10))}
	default:
		return &orders.OrderCancelled{Reason: pick(r, cancelReasons)}
	}
}

// invalidEvent returns an event Evolve rejects in state o.
func invalidEvent(r *rng, o orders.Order) orders.Event {
	p := catalog[r.intn(len(catalog))]
	cancel := &orders.OrderCancelled{Reason: pick(r, cancelReasons)}
	ship := &orders.OrderShipped{Carrier: pick(r, carriers)}
	var choices []orders.Event
	switch o.Status {
	case "":
		choices = []orders.Event{&orders.ItemAdded{SKU: p.sku, Quantity: 1, PriceCents: p.price}, &orders.OrderApproved{}, ship, cancel}
	case orders.StatusCreated:
		choices = []orders.Event{
			&orders.OrderCreated{CustomerID: o.CustomerID},
			&orders.QuantityChanged{SKU: "DISCONTINUED-" + p.sku, Quantity: 2},
			&orders.ItemAdded{SKU: missingProduct(r, o).sku, Quantity: 0, PriceCents: p.price},
			ship,
		}
		if len(o.Items) == 0 {
			choices = append(choices, &orders.OrderApproved{ApprovedBy: pick(r, clerks)})
		}
	case orders.StatusApproved:
		choices = []orders.Event{
			&orders.ItemAdded{SKU: missingProduct(r, o).sku, Quantity: 1, PriceCents: p.price},
			&orders.QuantityChanged{SKU: o.Items[0].SKU, Quantity: o.Items[0].Quantity + 1},
			&orders.OrderApproved{ApprovedBy: pick(r, clerks)},
		}
	case orders.StatusShipped:
		choices = []orders.Event{cancel, ship, &orders.QuantityChanged{SKU: o.Items[0].SKU, Quantity: 1}}
	case orders.StatusCancelled:
		choices = []orders.Event{ship, cancel, &orders.OrderApproved{ApprovedBy: pick(r, clerks)}}
	}
	return pick(r, choices)
}

func pick[T any](r *rng, from []T) T { return from[r.intn(len(from))] }

// rng is SplitMix64 (stable across Go versions).
type rng struct{ s uint64 }

func newRNG(seed int64, stream uint64) *rng {
	r := &rng{s: uint64(seed) ^ stream*0xd1342543de82ef95}
	r.next()
	return r
}

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func (r *rng) intn(n int) int { return int(r.next() % uint64(n)) }
