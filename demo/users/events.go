package users

import "github.com/eventfold/eventfold/codec"

// Event is implemented by the user events, and only by them.
type Event interface{ userEvent() }

// UserCreated registers a user. It must be the first event of a user; name
// and email are required.
type UserCreated struct {
	Name  string `json:"name"`
	Email string `json:"email"`
}

// UserUpdated changes the name, the email or both; an empty field is left
// unchanged, and at least one must be set.
type UserUpdated struct {
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
}

// UserDeleted deletes a user. The state is kept (Deleted is set) and no
// further change is accepted.
type UserDeleted struct {
	Reason string `json:"reason,omitempty"`
}

// UserLoggedIn records a login at At, an RFC 3339 time carried by the event
// so that Evolve stays pure.
type UserLoggedIn struct {
	At string `json:"at"`
}

// RoleAssigned gives the user a role it does not have.
type RoleAssigned struct {
	Role string `json:"role"`
}

// RoleUnassigned takes away a role the user has.
type RoleUnassigned struct {
	Role string `json:"role"`
}

// PurchaseRecorded records that the user bought an order: OrderID is the
// order's id (the orders entity key), TotalCents its total. It is what
// RecordPurchase produces when one of the user's orders ships. OrderID is
// required (at most MaxOrderIDLen bytes) and TotalCents must be >= 0.
type PurchaseRecorded struct {
	OrderID    string `json:"order_id"`
	TotalCents int64  `json:"total_cents"`
}

func (*UserCreated) userEvent()      {}
func (*UserUpdated) userEvent()      {}
func (*UserDeleted) userEvent()      {}
func (*UserLoggedIn) userEvent()     {}
func (*RoleAssigned) userEvent()     {}
func (*RoleUnassigned) userEvent()   {}
func (*PurchaseRecorded) userEvent() {}

// Events encodes and decodes user events as JSON objects whose "type" field
// is the Go type name, e.g. {"type":"UserLoggedIn","at":"2024-05-01T12:00:00Z"}.
var Events = codec.NewUnion[Event]().
	MustRegister("UserCreated", func() Event { return &UserCreated{} }).
	MustRegister("UserUpdated", func() Event { return &UserUpdated{} }).
	MustRegister("UserDeleted", func() Event { return &UserDeleted{} }).
	MustRegister("UserLoggedIn", func() Event { return &UserLoggedIn{} }).
	MustRegister("RoleAssigned", func() Event { return &RoleAssigned{} }).
	MustRegister("RoleUnassigned", func() Event { return &RoleUnassigned{} }).
	MustRegister("PurchaseRecorded", func() Event { return &PurchaseRecorded{} })
