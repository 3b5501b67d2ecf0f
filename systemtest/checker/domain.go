package checker

import (
	"encoding/json"
	"errors"
	"sort"
	"time"
)

// The demo domains, written again from their event and state JSON shapes
// (docs and demo/*/events.go): no code of demo/ or codec/ is used.

// order is the state JSON of an order.
type order struct {
	Status         string      `json:"status"`
	CustomerID     string      `json:"customer_id"`
	CreatedAt      string      `json:"created_at,omitempty"`
	Items          []orderItem `json:"items,omitempty"`
	TotalCents     int64       `json:"total_cents"`
	ApprovedBy     string      `json:"approved_by,omitempty"`
	Carrier        string      `json:"carrier,omitempty"`
	TrackingNumber string      `json:"tracking_number,omitempty"`
	CancelReason   string      `json:"cancel_reason,omitempty"`
}

type orderItem struct {
	SKU        string `json:"sku"`
	Quantity   int    `json:"quantity"`
	PriceCents int64  `json:"price_cents"`
}

// orderEvent holds the fields of every order event; Type says which.
type orderEvent struct {
	Type           string `json:"type"`
	CustomerID     string `json:"customer_id"`
	CreatedAt      string `json:"created_at"`
	SKU            string `json:"sku"`
	Quantity       int    `json:"quantity"`
	PriceCents     int64  `json:"price_cents"`
	ApprovedBy     string `json:"approved_by"`
	Carrier        string `json:"carrier"`
	TrackingNumber string `json:"tracking_number"`
	Reason         string `json:"reason"`
}

// user is the state JSON of a user.
type user struct {
	Name         string   `json:"name"`
	Email        string   `json:"email"`
	Deleted      bool     `json:"deleted,omitempty"`
	DeleteReason string   `json:"delete_reason,omitempty"`
	Roles        []string `json:"roles,omitempty"`
	Logins       int      `json:"logins"`
	LastLogin    string   `json:"last_login,omitempty"`
	// Purchases and LifetimeCents: the count and the sum of total_cents of
	// the PurchaseRecorded events.
	Purchases     int   `json:"purchases,omitempty"`
	LifetimeCents int64 `json:"lifetime_cents,omitempty"`
}

type userEvent struct {
	Type   string `json:"type"`
	Name   string `json:"name"`
	Email  string `json:"email"`
	Reason string `json:"reason"`
	At     string `json:"at"`
	Role   string `json:"role"`
	// PurchaseRecorded
	OrderID    string `json:"order_id"`
	TotalCents int64  `json:"total_cents"`
}

// maxOrderID is the longest order id of a PurchaseRecorded, in bytes.
const maxOrderID = 128

var errRejected = errors.New("rejected")

// domain folds one entity type: state is an opaque value of that type.
type domain struct {
	name   string
	zero   func() any
	evolve func(state any, data []byte) (any, error)
}

var domains = map[string]domain{
	"orders": {name: "orders", zero: func() any { return order{} }, evolve: evolveOrderJSON},
	"users":  {name: "users", zero: func() any { return user{} }, evolve: evolveUserJSON},
}

// Entities are the entity types the checker knows.
func Entities() []string { return []string{"orders", "users"} }

func evolveOrderJSON(s any, data []byte) (any, error) {
	var e orderEvent
	if err := json.Unmarshal(data, &e); err != nil {
		return s, err
	}
	return evolveOrder(s.(order), e)
}

func evolveUserJSON(s any, data []byte) (any, error) {
	var e userEvent
	if err := json.Unmarshal(data, &e); err != nil {
		return s, err
	}
	return evolveUser(s.(user), e)
}

// evolveOrder: an order is created once (with a customer), takes items and
// quantity changes while created, is approved (with items) from created,
// ships from approved, and is cancelled from created or approved.
func evolveOrder(o order, e orderEvent) (order, error) {
	exists := o.Status != ""
	if e.Type != "OrderCreated" && !exists {
		return o, errRejected
	}
	switch e.Type {
	case "OrderCreated":
		if exists || e.CustomerID == "" {
			return o, errRejected
		}
		return order{Status: "created", CustomerID: e.CustomerID, CreatedAt: e.CreatedAt}, nil
	case "ItemAdded":
		if o.Status != "created" || e.SKU == "" || e.Quantity <= 0 || e.PriceCents < 0 || o.hasSKU(e.SKU) {
			return o, errRejected
		}
		items := append(append([]orderItem(nil), o.Items...), orderItem{SKU: e.SKU, Quantity: e.Quantity, PriceCents: e.PriceCents})
		sort.Slice(items, func(i, j int) bool { return items[i].SKU < items[j].SKU })
		o.Items = items
		o.TotalCents = orderTotal(items)
		return o, nil
	case "QuantityChanged":
		if o.Status != "created" || e.Quantity <= 0 || !o.hasSKU(e.SKU) {
			return o, errRejected
		}
		items := append([]orderItem(nil), o.Items...)
		for i := range items {
			if items[i].SKU == e.SKU {
				items[i].Quantity = e.Quantity
			}
		}
		o.Items = items
		o.TotalCents = orderTotal(items)
		return o, nil
	case "OrderApproved":
		if o.Status != "created" || len(o.Items) == 0 {
			return o, errRejected
		}
		o.Status, o.ApprovedBy = "approved", e.ApprovedBy
		return o, nil
	case "OrderShipped":
		if o.Status != "approved" {
			return o, errRejected
		}
		o.Status, o.Carrier, o.TrackingNumber = "shipped", e.Carrier, e.TrackingNumber
		return o, nil
	case "OrderCancelled":
		if o.Status == "shipped" || o.Status == "cancelled" {
			return o, errRejected
		}
		o.Status, o.CancelReason = "cancelled", e.Reason
		return o, nil
	}
	return o, errRejected // unknown or missing type
}

func (o order) hasSKU(sku string) bool {
	for _, it := range o.Items {
		if it.SKU == sku {
			return true
		}
	}
	return false
}

func orderTotal(items []orderItem) int64 {
	var t int64
	for _, it := range items {
		t += int64(it.Quantity) * it.PriceCents
	}
	return t
}

// evolveUser: a user is created once (name and email); a deleted or
// not-yet-created user takes nothing else; updates set at least one field;
// logins carry an RFC 3339 time; roles are a sorted set; a purchase has an
// order id of 1 to 128 bytes and a total >= 0 that keeps the lifetime sum
// within int64.
func evolveUser(u user, e userEvent) (user, error) {
	exists := u.Email != ""
	if e.Type != "UserCreated" && (!exists || u.Deleted) {
		return u, errRejected
	}
	switch e.Type {
	case "UserCreated":
		if exists || e.Name == "" || e.Email == "" {
			return u, errRejected
		}
		return user{Name: e.Name, Email: e.Email}, nil
	case "UserUpdated":
		if e.Name == "" && e.Email == "" {
			return u, errRejected
		}
		if e.Name != "" {
			u.Name = e.Name
		}
		if e.Email != "" {
			u.Email = e.Email
		}
		return u, nil
	case "UserDeleted":
		u.Deleted, u.DeleteReason = true, e.Reason
		return u, nil
	case "UserLoggedIn":
		if _, err := time.Parse(time.RFC3339, e.At); err != nil {
			return u, errRejected
		}
		u.Logins++
		u.LastLogin = e.At
		return u, nil
	case "RoleAssigned":
		if e.Role == "" || u.hasRole(e.Role) {
			return u, errRejected
		}
		roles := append(append([]string(nil), u.Roles...), e.Role)
		sort.Strings(roles)
		u.Roles = roles
		return u, nil
	case "RoleUnassigned":
		if !u.hasRole(e.Role) {
			return u, errRejected
		}
		var roles []string
		for _, r := range u.Roles {
			if r != e.Role {
				roles = append(roles, r)
			}
		}
		u.Roles = roles
		return u, nil
	case "PurchaseRecorded":
		if e.OrderID == "" || len(e.OrderID) > maxOrderID || e.TotalCents < 0 || u.LifetimeCents+e.TotalCents < u.LifetimeCents {
			return u, errRejected
		}
		u.Purchases++
		u.LifetimeCents += e.TotalCents
		return u, nil
	}
	return u, errRejected
}

func (u user) hasRole(r string) bool {
	for _, x := range u.Roles {
		if x == r {
			return true
		}
	}
	return false
}
