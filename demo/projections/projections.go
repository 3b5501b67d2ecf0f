// Package projections is the demo's views across entities:
// customer-orders (by customer: open orders, count, lifetime total, from
// orders) and users-by-role (role to user ids, from users).
package projections

import (
	"fmt"
	"slices"

	"github.com/eventfold/eventfold/demo/orders"
	"github.com/eventfold/eventfold/demo/users"
	"github.com/eventfold/eventfold/projection"
)

// Customer is a customer's orders: those open (created or approved) with
// their totals, how many it ever created, and the total of those shipped.
type Customer struct {
	Open          map[string]int64 `json:"open"` // order id -> total_cents
	Orders        int              `json:"orders"`
	LifetimeCents int64            `json:"lifetime_cents"`
}

// OrderChanged is what an applied order event means to its customer.
type OrderChanged struct {
	Order      string        `json:"order"`
	Status     orders.Status `json:"status"`
	TotalCents int64         `json:"total_cents"`
	Created    bool          `json:"created,omitempty"` // the order's OrderCreated
	Shipped    bool          `json:"shipped,omitempty"` // the order's OrderShipped
}

// CustomerOrders is customer-orders: GET /v1/projections/customer-orders/{customer_id}.
var CustomerOrders = projection.Projection[Customer, OrderChanged]{
	Name: "customer-orders",
	Sources: []projection.Source[OrderChanged]{
		projection.From(orders.Entity, func(c projection.Change[orders.Order, orders.Event]) []projection.Out[OrderChanged] {
			if !c.Applied || c.After.CustomerID == "" {
				return nil
			}
			_, created := c.Event.(*orders.OrderCreated)
			_, shipped := c.Event.(*orders.OrderShipped)
			return projection.To(c.After.CustomerID, OrderChanged{Order: c.ID, Status: c.After.Status,
				TotalCents: c.After.TotalCents, Created: created, Shipped: shipped})
		}),
	},
	Evolve: EvolveCustomer,
}

// EvolveCustomer applies one order change to its customer.
func EvolveCustomer(c Customer, in OrderChanged) (Customer, error) {
	if in.Order == "" {
		return c, fmt.Errorf("customer-orders: an order change without an order id")
	}
	open := make(map[string]int64, len(c.Open)+1)
	for k, v := range c.Open {
		open[k] = v
	}
	switch in.Status {
	case orders.StatusCreated, orders.StatusApproved:
		open[in.Order] = in.TotalCents
	default:
		delete(open, in.Order)
	}
	c.Open = open
	if in.Created {
		c.Orders++
	}
	if in.Shipped {
		c.LifetimeCents += in.TotalCents
	}
	return c, nil
}

// Role is the users who hold a role, sorted.
type Role struct {
	Users []string `json:"users"`
}

// Membership says that User now holds the role (Holds) or no longer does.
type Membership struct {
	User  string `json:"user"`
	Holds bool   `json:"holds"`
}

// UsersByRole is users-by-role: GET /v1/projections/users-by-role/{role}.
// A deleted user holds no role.
var UsersByRole = projection.Projection[Role, Membership]{
	Name: "users-by-role",
	Sources: []projection.Source[Membership]{
		projection.From(users.Entity, func(c projection.Change[users.User, users.Event]) []projection.Out[Membership] {
			if !c.Applied {
				return nil
			}
			before, after := roles(c.Before), roles(c.After)
			var out []projection.Out[Membership]
			for _, r := range before {
				if !slices.Contains(after, r) {
					out = append(out, projection.Out[Membership]{Key: r, Input: Membership{User: c.ID, Holds: false}})
				}
			}
			for _, r := range after {
				if !slices.Contains(before, r) {
					out = append(out, projection.Out[Membership]{Key: r, Input: Membership{User: c.ID, Holds: true}})
				}
			}
			return out
		}),
	},
	Evolve: EvolveRole,
}

// roles are the roles a user holds in effect: none once deleted.
func roles(u users.User) []string {
	if u.Deleted {
		return nil
	}
	return u.Roles
}

// EvolveRole adds or removes a user.
func EvolveRole(r Role, m Membership) (Role, error) {
	if m.User == "" {
		return r, fmt.Errorf("users-by-role: a membership without a user")
	}
	i, found := slices.BinarySearch(r.Users, m.User)
	switch {
	case m.Holds && !found:
		r.Users = slices.Insert(slices.Clone(r.Users), i, m.User)
	case !m.Holds && found:
		r.Users = slices.Delete(slices.Clone(r.Users), i, i+1)
	}
	return r, nil
}

// All are the demo's projections.
func All() []projection.Definition {
	return []projection.Definition{CustomerOrders, UsersByRole}
}
