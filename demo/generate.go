package demo

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/eventfold/eventfold/demo/orders"
	"github.com/eventfold/eventfold/demo/users"
	"github.com/eventfold/eventfold/entity"
)

// Event is one generated event: the entity type's name ("orders" or
// "users"), the entity id (the Kafka record key) and the encoded event (the
// record value, decodable by the type's Events codec).
type Event struct {
	Entity string
	ID     string
	Data   []byte
}

// Entities returns the definitions of the demo entity types, orders.Entity
// and users.Entity, ready to register with a processor.
func Entities() []entity.Definition {
	return []entity.Definition{orders.Entity, users.Entity}
}

// invalidOneIn is the chance (1 in invalidOneIn) that a generated event is
// an invalid transition: 1/64 ≈ 1.6%.
const invalidOneIn = 64

// start is the time of the first generated event; each later event (in
// output order) is step later. Times are carried by events (UserLoggedIn.At,
// OrderCreated.CreatedAt), so Evolve stays pure.
var (
	start = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	step  = 13 * time.Second
)

// Generate returns events events spread over entities entity ids: the first
// half (rounded up) are orders with ids "order-000001", "order-000002", ...,
// the rest users with ids "user-000001", .... Every entity gets at least one
// event when events >= entities; the rest are spread at random.
//
// Each entity's events follow a realistic lifecycle (orders: created, items
// added, quantities changed, approved, then shipped or cancelled, or still
// open; users: created, logins, role changes, updates, purchases, sometimes
// deleted). When there are users, every order's customer is one of them, and
// a user records an order of theirs that shipped (PurchaseRecorded, with the
// order's id and total) at their next event after the shipping, as a process
// manager would.
// About 1.6% of the events are invalid transitions (shipping a cancelled
// order, a deleted user logging in, an item added before the order exists,
// ...) whose Evolve returns an error, to exercise dead-letter paths.
// Entities' events interleave in a shuffled order that preserves each
// entity's own order.
//
// The output depends only on the arguments, not on the Go version: the same
// seed gives the same events, byte for byte. Generate returns nil if
// entities or events is not positive.
func Generate(seed int64, entities, events int) []Event {
	out, _ := generate(seed, entities, events)
	return out
}

// plan is the event sequence of one entity, in its own order.
type plan struct {
	entity, id string
	data       [][]byte
	invalid    []bool    // invalid[i]: data[i] is a deliberate invalid transition
	shipped    *purchase // an order's: set if it ships
}

// purchase is an order that shipped, for its customer to record.
type purchase struct {
	customer, order string
	total           int64
	at              time.Time // when it shipped
}

// generate is Generate, also reporting which events are deliberately invalid.
func generate(seed int64, entities, events int) ([]Event, []bool) {
	plans, order := planAll(seed, entities, events)
	if plans == nil {
		return nil, nil
	}
	out := make([]Event, len(order))
	invalid := make([]bool, len(order))
	next := make([]int, len(plans))
	for j, i := range order {
		p := &plans[i]
		k := next[i]
		next[i]++
		out[j] = Event{Entity: p.entity, ID: p.id, Data: p.data[k]}
		invalid[j] = p.invalid[k]
	}
	return out, invalid
}

// planAll plans every entity's events and the interleaving: order[j] is the
// index in plans of the entity of output event j.
func planAll(seed int64, entities, events int) ([]plan, []int32) {
	if entities <= 0 || events <= 0 {
		return nil, nil
	}
	r := newRNG(seed, 0)

	// How many events each entity gets.
	counts := make([]int, entities)
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

	// A uniformly random interleaving that keeps each entity's order: shuffle
	// one token per event, then hand out each entity's events in token order.
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
	times := make([][]time.Time, entities)
	for j, i := range order {
		times[i] = append(times[i], start.Add(time.Duration(j)*step))
	}

	nOrders, nUsers := (entities+1)/2, entities/2
	plans := make([]plan, entities)
	bought := map[string][]purchase{} // customer id -> shipped orders
	for i := range plans {
		er := newRNG(seed, uint64(i)+1)
		if i < nOrders {
			plans[i] = planOrder(er, fmt.Sprintf("order-%06d", i+1), times[i], nUsers)
			if s := plans[i].shipped; s != nil {
				bought[s.customer] = append(bought[s.customer], *s)
			}
		} else {
			id := fmt.Sprintf("user-%06d", i-nOrders+1)
			plans[i] = planUser(er, id, times[i], bought[id])
		}
	}
	return plans, order
}

// invalidFlags draws, for each of n events, whether it is a deliberate
// invalid transition, and returns the flags and the number of valid events.
func invalidFlags(r *rng, n int) ([]bool, int) {
	flags := make([]bool, n)
	valid := n
	for i := range flags {
		if r.intn(invalidOneIn) == 0 {
			flags[i] = true
			valid--
		}
	}
	return flags, valid
}

func rfc3339(t time.Time) string { return t.Format(time.RFC3339) }

// ---- orders ----

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
)

type orderEnding int

const (
	endOpen           orderEnding = iota // still being filled
	endApproved                          // approved, not shipped yet
	endShipped                           // approved and shipped
	endCancelledOpen                     // cancelled while created
	endCancelledLater                    // cancelled after approval
)

// tail returns the number of events the ending needs after the item events.
func (e orderEnding) tail() int {
	switch e {
	case endApproved, endCancelledOpen:
		return 1
	case endShipped, endCancelledLater:
		return 2
	}
	return 0
}

// minEvents is the shortest valid order with this ending: OrderCreated,
// one ItemAdded if the ending approves, and the tail.
func (e orderEnding) minEvents() int {
	if e == endCancelledOpen {
		return 2
	}
	return 1 + min(e.tail(), 1) + e.tail()
}

// planOrder plans one order whose events happen at times.
func planOrder(r *rng, id string, times []time.Time, nUsers int) plan {
	n := len(times)
	p := plan{entity: orders.Entity.Name, id: id, data: make([][]byte, n)}
	var valid int
	p.invalid, valid = invalidFlags(r, n)

	// Lifecycle of the valid events: create, items (at least one before an
	// approval), then the tail of the ending.
	var ending orderEnding
	switch x := r.intn(100); {
	case x < 65:
		ending = endShipped
	case x < 72:
		ending = endCancelledLater
	case x < 82:
		ending = endCancelledOpen
	case x < 90:
		ending = endApproved
	}
	if valid < ending.minEvents() {
		ending = endOpen // too few events for that ending: still being filled
	}
	itemEvents := max(valid-1-ending.tail(), 0)

	customer := fmt.Sprintf("customer-%06d", r.intn(100000))
	if nUsers > 0 {
		customer = fmt.Sprintf("user-%06d", r.intn(nUsers)+1)
	}
	var state orders.Order
	v := 0 // valid events emitted so far
	for k := range n {
		var ev orders.Event
		if p.invalid[k] {
			ev = invalidOrderEvent(r, state)
		} else {
			switch {
			case v == 0:
				ev = &orders.OrderCreated{CustomerID: customer, CreatedAt: rfc3339(times[k])}
			case v <= itemEvents:
				ev = itemEvent(r, state)
			default:
				ev = tailEvent(r, ending, v-1-itemEvents)
			}
			v++
		}
		if next, err := orders.Evolve(state, ev); err == nil {
			if next.Status == orders.StatusShipped && state.Status != orders.StatusShipped {
				p.shipped = &purchase{customer: customer, order: id, total: next.TotalCents, at: times[k]}
			}
			state = next
		}
		p.data[k] = mustEncode(orders.Events.Encode(ev))
	}
	return p
}

// itemEvent adds a product not yet in the order or changes a quantity.
func itemEvent(r *rng, o orders.Order) orders.Event {
	if len(o.Items) == 0 || (len(o.Items) < len(catalog) && r.intn(100) < 55) {
		prod := missingProduct(r, o)
		return &orders.ItemAdded{SKU: prod.sku, Quantity: 1 + r.intn(3) + r.intn(3), PriceCents: prod.price}
	}
	it := o.Items[r.intn(len(o.Items))]
	q := it.Quantity + 1
	if it.Quantity > 1 && (r.intn(100) < 40 || it.Quantity >= 99) {
		q = it.Quantity - 1
	}
	return &orders.QuantityChanged{SKU: it.SKU, Quantity: q}
}

// missingProduct picks a catalog product the order does not have yet; if
// it has them all, it returns one anyway.
func missingProduct(r *rng, o orders.Order) product {
	for range 2 * len(catalog) {
		prod := catalog[r.intn(len(catalog))]
		if _, ok := o.Item(prod.sku); !ok {
			return prod
		}
	}
	for _, prod := range catalog {
		if _, ok := o.Item(prod.sku); !ok {
			return prod
		}
	}
	return catalog[0]
}

func tailEvent(r *rng, ending orderEnding, i int) orders.Event {
	approve := &orders.OrderApproved{ApprovedBy: pick(r, clerks)}
	switch {
	case ending == endCancelledOpen:
		return &orders.OrderCancelled{Reason: pick(r, cancelReasons)}
	case i == 0:
		return approve
	case ending == endShipped:
		carrier := pick(r, carriers)
		return &orders.OrderShipped{Carrier: carrier, TrackingNumber: fmt.Sprintf("%s%010d", strings.ToUpper(carrier[:2]), r.intn(1e10))}
	default: // endCancelledLater
		return &orders.OrderCancelled{Reason: pick(r, cancelReasons)}
	}
}

// invalidOrderEvent returns an event that Evolve rejects in state o.
func invalidOrderEvent(r *rng, o orders.Order) orders.Event {
	prod := catalog[r.intn(len(catalog))]
	cancel := &orders.OrderCancelled{Reason: pick(r, cancelReasons)}
	ship := &orders.OrderShipped{Carrier: pick(r, carriers)}
	var choices []orders.Event
	switch o.Status {
	case "": // before OrderCreated
		choices = []orders.Event{&orders.ItemAdded{SKU: prod.sku, Quantity: 1, PriceCents: prod.price}, &orders.OrderApproved{}, ship, cancel}
	case orders.StatusCreated:
		choices = []orders.Event{
			&orders.OrderCreated{CustomerID: o.CustomerID},                        // created twice
			&orders.QuantityChanged{SKU: "DISCONTINUED-" + prod.sku, Quantity: 2}, // unknown sku
			&orders.ItemAdded{SKU: missingProduct(r, o).sku, Quantity: 0, PriceCents: prod.price},
			ship, // not approved
		}
		if len(o.Items) == 0 {
			choices = append(choices, &orders.OrderApproved{ApprovedBy: pick(r, clerks)}) // nothing to approve
		}
	case orders.StatusApproved:
		choices = []orders.Event{
			&orders.ItemAdded{SKU: missingProduct(r, o).sku, Quantity: 1, PriceCents: prod.price},
			&orders.QuantityChanged{SKU: o.Items[0].SKU, Quantity: o.Items[0].Quantity + 1},
			&orders.OrderApproved{ApprovedBy: pick(r, clerks)}, // approved twice
		}
	case orders.StatusShipped:
		choices = []orders.Event{cancel, ship, &orders.QuantityChanged{SKU: o.Items[0].SKU, Quantity: 1}}
	case orders.StatusCancelled:
		choices = []orders.Event{ship, cancel, &orders.OrderApproved{ApprovedBy: pick(r, clerks)}}
	}
	return pick(r, choices)
}

// ---- users ----

var (
	firstNames = []string{"Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Margaret", "Ken", "Radia", "Dennis",
		"Frances", "John", "Hedy", "Linus", "Katherine", "Tim", "Shafi", "Leslie", "Sophie", "Niklaus"}
	lastNames = []string{"Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Hamilton", "Thompson", "Perlman", "Ritchie",
		"Allen", "McCarthy", "Lamarr", "Torvalds", "Johnson", "Berners-Lee", "Goldwasser", "Lamport", "Wilson", "Wirth"}
	roles         = []string{"admin", "billing", "editor", "support", "viewer"}
	domains       = []string{"example.com", "example.org", "mail.example", "work.example"}
	deleteReasons = []string{"user request", "inactive", "fraud", ""}
)

// planUser plans one user whose events happen at times. The user records
// each of its orders that shipped, bought (PurchaseRecorded), as an order
// process manager would: at its first event after the shipping that is
// neither its creation nor its deletion nor a planned invalid transition.
func planUser(r *rng, id string, times []time.Time, bought []purchase) plan {
	n := len(times)
	p := plan{entity: users.Entity.Name, id: id, data: make([][]byte, n)}
	var valid int
	p.invalid, valid = invalidFlags(r, n)
	deleted := valid >= 2 && r.intn(10) == 0

	bought = slices.Clone(bought)
	slices.SortFunc(bought, func(a, b purchase) int { return a.at.Compare(b.at) })

	num := strings.TrimLeft(strings.TrimPrefix(id, "user-"), "0")
	first, last := pick(r, firstNames), pick(r, lastNames)
	var state users.User
	v := 0
	for k := range n {
		var ev users.Event
		if p.invalid[k] {
			ev = invalidUserEvent(r, state, times[k])
		} else {
			switch {
			case v == 0:
				ev = &users.UserCreated{Name: first + " " + last, Email: email(first, last, num, domains[0])}
			case deleted && v == valid-1:
				ev = &users.UserDeleted{Reason: pick(r, deleteReasons)}
			case len(bought) > 0 && bought[0].at.Before(times[k]):
				ev = &users.PurchaseRecorded{OrderID: bought[0].order, TotalCents: bought[0].total}
				bought = bought[1:]
			default:
				ev = activeUserEvent(r, state, first, num, times[k])
			}
			v++
		}
		if next, err := users.Evolve(state, ev); err == nil {
			state = next
		}
		p.data[k] = mustEncode(users.Events.Encode(ev))
	}
	return p
}

// activeUserEvent is a valid event for an existing, not deleted user.
func activeUserEvent(r *rng, u users.User, first, num string, at time.Time) users.Event {
	switch x := r.intn(100); {
	case x < 13 && len(u.Roles) < len(roles):
		for {
			if role := pick(r, roles); !u.HasRole(role) {
				return &users.RoleAssigned{Role: role}
			}
		}
	case x < 23 && len(u.Roles) > 0:
		return &users.RoleUnassigned{Role: pick(r, u.Roles)}
	case x < 30: // new address, same mailbox name
		local, domain, _ := strings.Cut(u.Email, "@")
		for {
			if d := pick(r, domains); d != domain {
				return &users.UserUpdated{Email: local + "@" + d}
			}
		}
	case x < 33: // new surname, new address
		_, domain, _ := strings.Cut(u.Email, "@")
		for {
			if last := pick(r, lastNames); first+" "+last != u.Name {
				return &users.UserUpdated{Name: first + " " + last, Email: email(first, last, num, domain)}
			}
		}
	}
	return &users.UserLoggedIn{At: rfc3339(at)}
}

// invalidUserEvent returns an event that Evolve rejects in state u.
func invalidUserEvent(r *rng, u users.User, at time.Time) users.Event {
	login := &users.UserLoggedIn{At: rfc3339(at)}
	var choices []users.Event
	switch {
	case !u.Exists():
		choices = []users.Event{login, &users.RoleAssigned{Role: pick(r, roles)}, &users.UserDeleted{}}
	case u.Deleted:
		choices = []users.Event{login, login, &users.UserUpdated{Name: "Ghost"}, &users.RoleAssigned{Role: pick(r, roles)}, &users.UserDeleted{}}
	default:
		choices = []users.Event{&users.UserCreated{Name: u.Name, Email: u.Email}} // created twice
		if len(u.Roles) > 0 {
			choices = append(choices, &users.RoleAssigned{Role: pick(r, u.Roles)}) // already held
		}
		if len(u.Roles) < len(roles) {
			for {
				if role := pick(r, roles); !u.HasRole(role) {
					choices = append(choices, &users.RoleUnassigned{Role: role}) // not held
					break
				}
			}
		}
	}
	return pick(r, choices)
}

func email(first, last, num, domain string) string {
	local := strings.ToLower(first + "." + strings.ReplaceAll(last, "-", ""))
	return fmt.Sprintf("%s.%s@%s", local, num, domain)
}

// ---- helpers ----

func pick[T any](r *rng, from []T) T { return from[r.intn(len(from))] }

// mustEncode panics on an encoding error: the generator only encodes
// registered event types, so an error is a bug in this package.
func mustEncode(b []byte, err error) []byte {
	if err != nil {
		panic(fmt.Sprintf("demo: encoding a generated event: %v", err))
	}
	return b
}

// rng is SplitMix64: tiny, fast, and its output is fixed by this code, not
// by the Go version, so generated streams are stable across releases.
type rng struct{ s uint64 }

// newRNG returns the generator of one stream (0 for the interleaving,
// i+1 for entity i) of seed.
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

// intn returns a number in [0, n); n must be positive. The modulo bias is
// negligible for the small n used here.
func (r *rng) intn(n int) int { return int(r.next() % uint64(n)) }
