package users

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/eventfold/eventfold/codec"
	"github.com/eventfold/eventfold/entity"
)

// ErrInvalidTransition is wrapped by every error Evolve returns: the event
// is not allowed in the user's current state.
var ErrInvalidTransition = errors.New("users: invalid transition")

// User is the folded state of one user. The user id is the entity key and is
// not repeated here. Its JSON encoding is deterministic: Roles is sorted and
// empty fields are omitted.
type User struct {
	Name    string `json:"name"`
	Email   string `json:"email"`
	Deleted bool   `json:"deleted,omitempty"`
	// DeleteReason is UserDeleted.Reason.
	DeleteReason string `json:"delete_reason,omitempty"`
	// Roles are the roles held, sorted, without duplicates.
	Roles []string `json:"roles,omitempty"`
	// Logins counts UserLoggedIn events; LastLogin is the At of the latest.
	Logins    int    `json:"logins"`
	LastLogin string `json:"last_login,omitempty"`
	// Purchases counts PurchaseRecorded events; LifetimeCents is the sum
	// of their TotalCents.
	Purchases     int   `json:"purchases,omitempty"`
	LifetimeCents int64 `json:"lifetime_cents,omitempty"`
}

// MaxOrderIDLen is the longest PurchaseRecorded.OrderID, in bytes.
const MaxOrderIDLen = 128

// Exists reports whether UserCreated has been applied (it requires an
// email, and nothing can clear it).
func (u User) Exists() bool { return u.Email != "" }

// HasRole reports whether the user holds role.
func (u User) HasRole(role string) bool {
	_, ok := slices.BinarySearch(u.Roles, role)
	return ok
}

// Entity declares users for a processor: entity name "users", events topic
// "users-events", JSON state, and the commands of Commands decided by Decide.
var Entity = entity.Entity[User, Event]{
	Name:     "users",
	Events:   Events,
	State:    codec.JSON[User]{},
	Evolve:   Evolve,
	Commands: entity.Commands[User, Event, Command]{Codec: Commands, Decide: Decide},
}

// Evolve applies one event to a user and returns the new user. It is pure
// and never modifies u (Roles is copied before it changes). The first event
// of a user sees the zero User.
//
// Rules; breaking one returns an error wrapping ErrInvalidTransition:
//   - UserCreated must come first, exactly once, with a name and an email.
//   - A deleted user cannot be updated, log in, get or lose roles, record a
//     purchase, or be deleted again.
//   - UserUpdated must set the name, the email or both.
//   - UserLoggedIn needs At in RFC 3339.
//   - RoleAssigned needs a role the user does not hold; RoleUnassigned a role
//     the user holds. Roles are non-empty.
//   - PurchaseRecorded needs an order id of 1 to MaxOrderIDLen bytes and a
//     total_cents >= 0 that keeps LifetimeCents within int64. It adds 1 to
//     Purchases and total_cents to LifetimeCents.
func Evolve(u User, e Event) (User, error) {
	if _, first := e.(*UserCreated); !first {
		if !u.Exists() {
			return u, invalid(e, "user does not exist (no UserCreated yet)")
		}
		if u.Deleted {
			return u, invalid(e, "user is deleted")
		}
	}
	switch e := e.(type) {
	case *UserCreated:
		if e == nil {
			break
		}
		if u.Exists() {
			return u, invalid(e, "user already created")
		}
		if e.Name == "" || e.Email == "" {
			return u, invalid(e, "name and email are required")
		}
		return User{Name: e.Name, Email: e.Email}, nil

	case *UserUpdated:
		if e == nil {
			break
		}
		if e.Name == "" && e.Email == "" {
			return u, invalid(e, "nothing to update")
		}
		if e.Name != "" {
			u.Name = e.Name
		}
		if e.Email != "" {
			u.Email = e.Email
		}
		return u, nil

	case *UserDeleted:
		if e == nil {
			break
		}
		u.Deleted = true
		u.DeleteReason = e.Reason
		return u, nil

	case *UserLoggedIn:
		if e == nil {
			break
		}
		if _, err := time.Parse(time.RFC3339, e.At); err != nil {
			return u, invalid(e, "at must be an RFC 3339 time, got %q", e.At)
		}
		u.Logins++
		u.LastLogin = e.At
		return u, nil

	case *RoleAssigned:
		if e == nil {
			break
		}
		if e.Role == "" {
			return u, invalid(e, "role is required")
		}
		i, held := slices.BinarySearch(u.Roles, e.Role)
		if held {
			return u, invalid(e, "user already has role %q", e.Role)
		}
		u.Roles = slices.Insert(slices.Clone(u.Roles), i, e.Role)
		return u, nil

	case *RoleUnassigned:
		if e == nil {
			break
		}
		i, held := slices.BinarySearch(u.Roles, e.Role)
		if !held {
			return u, invalid(e, "user does not have role %q", e.Role)
		}
		u.Roles = slices.Delete(slices.Clone(u.Roles), i, i+1)
		if len(u.Roles) == 0 {
			u.Roles = nil
		}
		return u, nil
	case *PurchaseRecorded:
		if e == nil {
			break
		}
		if e.OrderID == "" {
			return u, invalid(e, "order_id is required")
		}
		if len(e.OrderID) > MaxOrderIDLen {
			return u, invalid(e, "order_id must be at most %d bytes, got %d", MaxOrderIDLen, len(e.OrderID))
		}
		if e.TotalCents < 0 {
			return u, invalid(e, "total_cents must be >= 0, got %d", e.TotalCents)
		}
		if e.TotalCents > math.MaxInt64-u.LifetimeCents {
			return u, invalid(e, "total_cents %d would overflow lifetime_cents %d", e.TotalCents, u.LifetimeCents)
		}
		u.Purchases++
		u.LifetimeCents += e.TotalCents
		return u, nil
	}
	return u, fmt.Errorf("%w: unsupported event %T (%v)", ErrInvalidTransition, e, e)
}

// invalid builds an error wrapping ErrInvalidTransition that names the event.
func invalid(e Event, format string, args ...any) error {
	name := Events.TypeOf(e)
	if name == "" {
		name = fmt.Sprintf("%T", e)
	}
	return &transitionError{event: name, detail: fmt.Sprintf(format, args...)}
}

// transitionError is an error of Evolve. Its detail (the broken rule, without
// the event name) is what Decide turns into a rejection reason.
type transitionError struct{ event, detail string }

func (e *transitionError) Error() string {
	return fmt.Sprintf("%v: %s: %s", ErrInvalidTransition, e.event, e.detail)
}

func (e *transitionError) Unwrap() error { return ErrInvalidTransition }
