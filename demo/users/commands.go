package users

import (
	"errors"
	"fmt"

	"github.com/eventfold/eventfold/codec"
)

// ErrRejected is wrapped by every error Decide returns: the command is not
// allowed in the user's current state. The error's text is the bare,
// human-readable reason (for example "cannot log in: user is deleted"); when
// the reason comes from an Evolve rule the error also wraps
// ErrInvalidTransition.
var ErrRejected = errors.New("users: command rejected")

// Command is implemented by the user commands, and only by them.
type Command interface{ userCommand() }

// CreateUser registers a user (UserCreated); name and email are required.
type CreateUser struct {
	Name  string `json:"name"`
	Email string `json:"email"`
}

// UpdateUser changes the name, the email or both (UserUpdated); an empty
// field is left unchanged. The event carries only the fields that differ from
// the current ones; an update that changes nothing is rejected.
type UpdateUser struct {
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
}

// DeleteUser deletes a user (UserDeleted); nothing is accepted afterwards.
type DeleteUser struct {
	Reason string `json:"reason,omitempty"`
}

// LogIn records a login (UserLoggedIn). At is the RFC 3339 time of the
// login, carried by the command so that Decide stays pure (it never reads a
// clock); it is required.
type LogIn struct {
	At string `json:"at"`
}

// AssignRole gives the user a role it does not hold (RoleAssigned).
type AssignRole struct {
	Role string `json:"role"`
}

// UnassignRole takes away a role the user holds (RoleUnassigned).
type UnassignRole struct {
	Role string `json:"role"`
}

// RecordPurchase records that the user bought an order (PurchaseRecorded):
// an order process manager sends it to the order's customer when the order
// ships. OrderID is required (at most MaxOrderIDLen bytes); TotalCents is the
// order's total and must be >= 0.
type RecordPurchase struct {
	OrderID    string `json:"order_id"`
	TotalCents int64  `json:"total_cents"`
}

func (*CreateUser) userCommand()     {}
func (*UpdateUser) userCommand()     {}
func (*DeleteUser) userCommand()     {}
func (*LogIn) userCommand()          {}
func (*AssignRole) userCommand()     {}
func (*UnassignRole) userCommand()   {}
func (*RecordPurchase) userCommand() {}

// Commands encodes and decodes user commands as JSON objects whose "type"
// field is the Go type name, e.g. {"type":"LogIn","at":"2024-05-01T12:00:00Z"}.
var Commands = codec.NewUnion[Command]().
	MustRegister("CreateUser", func() Command { return &CreateUser{} }).
	MustRegister("UpdateUser", func() Command { return &UpdateUser{} }).
	MustRegister("DeleteUser", func() Command { return &DeleteUser{} }).
	MustRegister("LogIn", func() Command { return &LogIn{} }).
	MustRegister("AssignRole", func() Command { return &AssignRole{} }).
	MustRegister("UnassignRole", func() Command { return &UnassignRole{} }).
	MustRegister("RecordPurchase", func() Command { return &RecordPurchase{} })

// Decide validates a command against the current user and returns the event
// that carries it out, or an error wrapping ErrRejected that says why not.
// It is pure and never modifies u. The first command of a user sees the zero
// User.
//
// Each command maps to one event. Decide builds it and rejects the command
// when Evolve would reject the event, with Evolve's rule as the reason, so
// the rules live in one place (see Evolve): in particular a deleted user
// cannot log in, be updated, get or lose roles, or record a purchase;
// assigning a held role or unassigning a missing one is rejected, and so is
// a purchase without an order id or with a negative total. On top of them,
// a command is rejected when
//   - it is not CreateUser and the user does not exist;
//   - CreateUser targets a user that exists (even a deleted one);
//   - DeleteUser targets a deleted user ("already deleted");
//   - UpdateUser changes nothing (the fields it sets equal the current ones);
//   - UnassignRole has an empty role.
//
// The event Decide returns always applies with Evolve on u.
func Decide(u User, c Command) ([]Event, error) {
	switch c := c.(type) {
	case *CreateUser:
		if c == nil {
			break
		}
		const action = "cannot create user"
		if u.Exists() {
			return nil, reject(nil, "%s: user already exists", action)
		}
		return apply(u, action, &UserCreated{Name: c.Name, Email: c.Email})

	case *UpdateUser:
		if c == nil {
			break
		}
		const action = "cannot update user"
		if err := live(u, action); err != nil {
			return nil, err
		}
		ev := &UserUpdated{}
		if c.Name != u.Name {
			ev.Name = c.Name
		}
		if c.Email != u.Email {
			ev.Email = c.Email
		}
		if *ev == (UserUpdated{}) && *c != (UpdateUser{}) {
			return nil, reject(nil, "%s: nothing changes, the user already has this %s", action, fields(c))
		}
		return apply(u, action, ev)

	case *DeleteUser:
		if c == nil {
			break
		}
		const action = "cannot delete user"
		if u.Exists() && u.Deleted {
			return nil, reject(nil, "%s: user is already deleted", action)
		}
		return apply(u, action, &UserDeleted{Reason: c.Reason})

	case *LogIn:
		if c == nil {
			break
		}
		return apply(u, "cannot log in", &UserLoggedIn{At: c.At})

	case *AssignRole:
		if c == nil {
			break
		}
		return apply(u, "cannot assign role", &RoleAssigned{Role: c.Role})

	case *UnassignRole:
		if c == nil {
			break
		}
		const action = "cannot unassign role"
		if err := live(u, action); err != nil {
			return nil, err
		}
		if c.Role == "" {
			return nil, reject(nil, "%s: role is required", action)
		}
		return apply(u, action, &RoleUnassigned{Role: c.Role})
	case *RecordPurchase:
		if c == nil {
			break
		}
		return apply(u, "cannot record purchase", &PurchaseRecorded{OrderID: c.OrderID, TotalCents: c.TotalCents})
	}
	return nil, reject(nil, "unsupported command %T", c)
}

// apply checks e with Evolve and returns it, or the broken rule as a
// rejection "action: rule".
func apply(u User, action string, e Event) ([]Event, error) {
	if _, create := e.(*UserCreated); !create {
		if err := live(u, action); err != nil {
			return nil, err
		}
	}
	if _, err := Evolve(u, e); err != nil {
		return nil, reject(err, "%s: %s", action, detail(err))
	}
	return []Event{e}, nil
}

// live rejects commands for users that do not exist or are deleted.
func live(u User, action string) error {
	switch {
	case !u.Exists():
		return reject(nil, "%s: user does not exist", action)
	case u.Deleted:
		return reject(nil, "%s: user is deleted", action)
	}
	return nil
}

// fields names the fields an UpdateUser sets.
func fields(c *UpdateUser) string {
	switch {
	case c.Name != "" && c.Email != "":
		return "name and email"
	case c.Name != "":
		return "name"
	}
	return "email"
}

// detail is the rule an Evolve error names, without the event name.
func detail(err error) string {
	var te *transitionError
	if errors.As(err, &te) {
		return te.detail
	}
	return err.Error()
}

// rejection is the error of Decide: its text is the reason alone, it matches
// ErrRejected and unwraps to the Evolve error it came from, if any.
type rejection struct {
	reason string
	err    error
}

func reject(cause error, format string, args ...any) error {
	return &rejection{reason: fmt.Sprintf(format, args...), err: cause}
}

func (r *rejection) Error() string        { return r.reason }
func (r *rejection) Unwrap() error        { return r.err }
func (r *rejection) Is(target error) bool { return target == ErrRejected }
