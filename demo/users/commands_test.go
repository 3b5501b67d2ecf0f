package users_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/eventfold/eventfold"
	"github.com/eventfold/eventfold/codec"
	"github.com/eventfold/eventfold/demo/users"
	"github.com/eventfold/eventfold/entity"
)

// decideAndFold runs Decide on the state after history and, when it accepts,
// folds the events it returned with Evolve, failing the test if one does not
// apply.
func decideAndFold(t *testing.T, history []users.Event, cmd users.Command) (events []users.Event, after users.User, err error) {
	t.Helper()
	before := fold(t, history...)
	snapshot := before
	snapshot.Roles = slices.Clone(before.Roles)
	events, err = users.Decide(before, cmd)
	if !reflect.DeepEqual(before, snapshot) {
		t.Fatalf("Decide modified its input: %+v, was %+v", before, snapshot)
	}
	after = before
	for i, e := range events {
		var ferr error
		if after, ferr = users.Evolve(after, e); ferr != nil {
			t.Fatalf("event %d of %d (%T) returned by Decide does not apply: %v", i+1, len(events), e, ferr)
		}
	}
	return events, after, err
}

func TestDecideAccepted(t *testing.T) {
	ada := users.User{Name: "Ada Lovelace", Email: "ada@example.com"}
	with := func(u users.User, f func(*users.User)) users.User { f(&u); return u }
	for _, tc := range []struct {
		name    string
		history []users.Event
		cmd     users.Command
		want    []users.Event
		state   users.User
	}{
		{"create user", nil, &users.CreateUser{Name: "Ada Lovelace", Email: "ada@example.com"}, []users.Event{created}, ada},
		{"update name", []users.Event{created}, &users.UpdateUser{Name: "Ada King"},
			[]users.Event{&users.UserUpdated{Name: "Ada King"}}, with(ada, func(u *users.User) { u.Name = "Ada King" })},
		{"update email", []users.Event{created}, &users.UpdateUser{Email: "ada@work.example"},
			[]users.Event{&users.UserUpdated{Email: "ada@work.example"}}, with(ada, func(u *users.User) { u.Email = "ada@work.example" })},
		{"update both", []users.Event{created}, &users.UpdateUser{Name: "Ada King", Email: "ada@work.example"},
			[]users.Event{&users.UserUpdated{Name: "Ada King", Email: "ada@work.example"}},
			users.User{Name: "Ada King", Email: "ada@work.example"}},
		{"update carries only what changes", []users.Event{created}, &users.UpdateUser{Name: "Ada Lovelace", Email: "ada@work.example"},
			[]users.Event{&users.UserUpdated{Email: "ada@work.example"}}, with(ada, func(u *users.User) { u.Email = "ada@work.example" })},
		{"log in", []users.Event{created}, &users.LogIn{At: "2024-01-01T10:00:00Z"},
			[]users.Event{login1}, with(ada, func(u *users.User) { u.Logins, u.LastLogin = 1, login1.At })},
		{"log in again", []users.Event{created, login1}, &users.LogIn{At: login2.At},
			[]users.Event{login2}, with(ada, func(u *users.User) { u.Logins, u.LastLogin = 2, login2.At })},
		{"assign role", []users.Event{created}, &users.AssignRole{Role: "admin"},
			[]users.Event{makeAdmin}, with(ada, func(u *users.User) { u.Roles = []string{"admin"} })},
		{"assign second role", []users.Event{created, makeEditor}, &users.AssignRole{Role: "admin"},
			[]users.Event{makeAdmin}, with(ada, func(u *users.User) { u.Roles = []string{"admin", "editor"} })},
		{"unassign role", []users.Event{created, makeAdmin, makeEditor}, &users.UnassignRole{Role: "admin"},
			[]users.Event{dropAdmin}, with(ada, func(u *users.User) { u.Roles = []string{"editor"} })},
		{"delete", []users.Event{created, makeAdmin}, &users.DeleteUser{Reason: "user request"},
			[]users.Event{deleted}, with(ada, func(u *users.User) {
				u.Deleted, u.DeleteReason, u.Roles = true, "user request", []string{"admin"}
			})},
		{"delete without reason", []users.Event{created}, &users.DeleteUser{},
			[]users.Event{&users.UserDeleted{}}, with(ada, func(u *users.User) { u.Deleted = true })},
		{"record purchase", []users.Event{created}, &users.RecordPurchase{OrderID: "order-000001", TotalCents: 2599},
			[]users.Event{bought1}, with(ada, func(u *users.User) { u.Purchases, u.LifetimeCents = 1, 2599 })},
		{"record second purchase", []users.Event{created, bought1}, &users.RecordPurchase{OrderID: "order-000002", TotalCents: 1000},
			[]users.Event{bought2}, with(ada, func(u *users.User) { u.Purchases, u.LifetimeCents = 2, 3599 })},
		{"record free purchase", []users.Event{created}, &users.RecordPurchase{OrderID: "order-000003"},
			[]users.Event{&users.PurchaseRecorded{OrderID: "order-000003"}}, with(ada, func(u *users.User) { u.Purchases = 1 })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			events, after, err := decideAndFold(t, tc.history, tc.cmd)
			if err != nil {
				t.Fatalf("Decide: %v", err)
			}
			if !reflect.DeepEqual(events, tc.want) {
				t.Errorf("Decide = %#v, want %#v", events, tc.want)
			}
			if !reflect.DeepEqual(after, tc.state) {
				t.Errorf("state after the events =\n%+v\nwant\n%+v", after, tc.state)
			}
		})
	}
}

func TestDecideRejected(t *testing.T) {
	live := []users.Event{created, makeEditor}
	gone := []users.Event{created, makeAdmin, deleted}
	for _, tc := range []struct {
		name    string
		history []users.Event
		cmd     users.Command
		reason  string // the whole error text
	}{
		{"create twice", []users.Event{created}, &users.CreateUser{Name: "A", Email: "a@example.com"}, "cannot create user: user already exists"},
		{"create after delete", gone, &users.CreateUser{Name: "A", Email: "a@example.com"}, "cannot create user: user already exists"},
		{"create without email", nil, &users.CreateUser{Name: "A"}, "cannot create user: name and email are required"},
		{"create without name", nil, &users.CreateUser{Email: "a@example.com"}, "cannot create user: name and email are required"},

		{"update missing user", nil, &users.UpdateUser{Name: "A"}, "cannot update user: user does not exist"},
		{"update deleted user", gone, &users.UpdateUser{Name: "Ghost"}, "cannot update user: user is deleted"},
		{"empty update", live, &users.UpdateUser{}, "cannot update user: nothing to update"},
		{"update to the same name", live, &users.UpdateUser{Name: "Ada Lovelace"},
			"cannot update user: nothing changes, the user already has this name"},
		{"update to the same email", live, &users.UpdateUser{Email: "ada@example.com"},
			"cannot update user: nothing changes, the user already has this email"},
		{"update to the same name and email", live, &users.UpdateUser{Name: "Ada Lovelace", Email: "ada@example.com"},
			"cannot update user: nothing changes, the user already has this name and email"},

		{"delete missing user", nil, &users.DeleteUser{}, "cannot delete user: user does not exist"},
		{"delete twice", gone, &users.DeleteUser{Reason: "again"}, "cannot delete user: user is already deleted"},

		{"log in missing user", nil, &users.LogIn{At: login1.At}, "cannot log in: user does not exist"},
		{"a deleted user cannot log in", gone, &users.LogIn{At: login1.At}, "cannot log in: user is deleted"},
		{"log in without time", live, &users.LogIn{}, `cannot log in: at must be an RFC 3339 time, got ""`},
		{"log in with bad time", live, &users.LogIn{At: "yesterday"}, `cannot log in: at must be an RFC 3339 time, got "yesterday"`},

		{"assign role to missing user", nil, &users.AssignRole{Role: "admin"}, "cannot assign role: user does not exist"},
		{"a deleted user cannot get roles", gone, &users.AssignRole{Role: "editor"}, "cannot assign role: user is deleted"},
		{"assign held role", live, &users.AssignRole{Role: "editor"}, `cannot assign role: user already has role "editor"`},
		{"assign empty role", live, &users.AssignRole{}, "cannot assign role: role is required"},

		{"unassign role of missing user", nil, &users.UnassignRole{Role: "admin"}, "cannot unassign role: user does not exist"},
		{"a deleted user cannot lose roles", gone, &users.UnassignRole{Role: "admin"}, "cannot unassign role: user is deleted"},
		{"unassign missing role", live, &users.UnassignRole{Role: "admin"}, `cannot unassign role: user does not have role "admin"`},
		{"unassign empty role", live, &users.UnassignRole{}, "cannot unassign role: role is required"},

		{"record purchase of missing user", nil, &users.RecordPurchase{OrderID: "order-000001", TotalCents: 2599},
			"cannot record purchase: user does not exist"},
		{"a deleted user cannot record purchases", gone, &users.RecordPurchase{OrderID: "order-000001", TotalCents: 2599},
			"cannot record purchase: user is deleted"},
		{"record purchase without order id", live, &users.RecordPurchase{TotalCents: 2599},
			"cannot record purchase: order_id is required"},
		{"record purchase with too long order id", live, &users.RecordPurchase{OrderID: strings.Repeat("o", 200), TotalCents: 2599},
			"cannot record purchase: order_id must be at most 128 bytes, got 200"},
		{"record purchase with negative total", live, &users.RecordPurchase{OrderID: "order-000001", TotalCents: -2599},
			"cannot record purchase: total_cents must be >= 0, got -2599"},
		{"record purchase overflowing the lifetime total", []users.Event{created, &users.PurchaseRecorded{OrderID: "big", TotalCents: math.MaxInt64}},
			&users.RecordPurchase{OrderID: "order-000001", TotalCents: 1},
			"cannot record purchase: total_cents 1 would overflow lifetime_cents 9223372036854775807"},

		{"nil command", live, nil, "unsupported command <nil>"},
		{"typed nil command", live, (*users.LogIn)(nil), "unsupported command *users.LogIn"},
		{"typed nil purchase", live, (*users.RecordPurchase)(nil), "unsupported command *users.RecordPurchase"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			events, _, err := decideAndFold(t, tc.history, tc.cmd)
			if !errors.Is(err, users.ErrRejected) {
				t.Fatalf("err = %v, want ErrRejected", err)
			}
			if err.Error() != tc.reason {
				t.Errorf("reason = %q\n      want %q", err, tc.reason)
			}
			if events != nil {
				t.Errorf("rejected, yet events %v", events)
			}
		})
	}
}

func TestRejectionWrapping(t *testing.T) {
	_, err := users.Decide(fold(t, created, makeAdmin), &users.AssignRole{Role: "admin"})
	if !errors.Is(err, users.ErrRejected) || !errors.Is(err, users.ErrInvalidTransition) {
		t.Fatalf("err = %v, want ErrRejected and ErrInvalidTransition", err)
	}
	wrapped := &entity.RejectedError{Reason: err.Error(), Err: err}
	if !errors.Is(wrapped, users.ErrRejected) || !errors.Is(wrapped, eventfold.ErrRejected) {
		t.Errorf("processor wrapping %v loses a sentinel", wrapped)
	}
}

// Random commands against the states they lead to: whatever Decide accepts
// folds with Evolve (checked by decideAndFold), whatever it refuses wraps
// ErrRejected, and a good share of both happen.
func TestDecideEventsAlwaysApply(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	oneOf := func(s ...string) string { return s[rng.IntN(len(s))] }
	randomCommand := func() users.Command {
		switch rng.IntN(10) {
		case 0:
			return &users.CreateUser{Name: oneOf("", "Ada"), Email: oneOf("", "ada@example.com")}
		case 1:
			return &users.UpdateUser{Name: oneOf("", "Ada", "Ada King"), Email: oneOf("", "ada@example.com", "ada@work.example")}
		case 2:
			return &users.DeleteUser{}
		case 3, 4:
			return &users.LogIn{At: oneOf("", "2024-01-01T10:00:00Z", "bad")}
		case 5, 6:
			return &users.AssignRole{Role: oneOf("", "admin", "editor")}
		case 7, 8:
			return &users.UnassignRole{Role: oneOf("", "admin", "editor")}
		default:
			totals := []int64{-1, 0, 2599}
			return &users.RecordPurchase{OrderID: oneOf("", "order-000001"), TotalCents: totals[rng.IntN(len(totals))]}
		}
	}
	accepted, rejected := map[string]int{}, map[string]int{}
	for range 200 {
		var history []users.Event
		for range 12 {
			cmd := randomCommand()
			events, _, err := decideAndFold(t, history, cmd)
			switch {
			case err == nil && len(events) > 0:
				accepted[users.Commands.TypeOf(cmd)]++
				history = append(history, events...)
			case errors.Is(err, users.ErrRejected):
				rejected[users.Commands.TypeOf(cmd)]++
			default:
				t.Fatalf("Decide(%+v) = %v, %v", cmd, events, err)
			}
		}
	}
	for _, typ := range users.Commands.Types() {
		if accepted[typ] == 0 || rejected[typ] == 0 {
			t.Errorf("%s: %d accepted, %d rejected; want both", typ, accepted[typ], rejected[typ])
		}
	}
}

func TestCommandsRoundTrip(t *testing.T) {
	cases := []struct {
		cmd  users.Command
		json string
	}{
		{&users.CreateUser{Name: "Ada Lovelace", Email: "ada@example.com"}, `{"type":"CreateUser","name":"Ada Lovelace","email":"ada@example.com"}`},
		{&users.UpdateUser{Name: "Ada King"}, `{"type":"UpdateUser","name":"Ada King"}`},
		{&users.UpdateUser{Email: "ada@work.example"}, `{"type":"UpdateUser","email":"ada@work.example"}`},
		{&users.UpdateUser{Name: "A", Email: "a@b"}, `{"type":"UpdateUser","name":"A","email":"a@b"}`},
		{&users.DeleteUser{Reason: "user request"}, `{"type":"DeleteUser","reason":"user request"}`},
		{&users.DeleteUser{}, `{"type":"DeleteUser"}`},
		{&users.LogIn{At: "2024-05-01T12:00:00Z"}, `{"type":"LogIn","at":"2024-05-01T12:00:00Z"}`},
		{&users.AssignRole{Role: "admin"}, `{"type":"AssignRole","role":"admin"}`},
		{&users.UnassignRole{Role: "admin"}, `{"type":"UnassignRole","role":"admin"}`},
		{&users.RecordPurchase{OrderID: "order-000001", TotalCents: 2599}, `{"type":"RecordPurchase","order_id":"order-000001","total_cents":2599}`},
		{&users.RecordPurchase{OrderID: "o"}, `{"type":"RecordPurchase","order_id":"o","total_cents":0}`},
	}
	seen := map[string]bool{}
	for _, tc := range cases {
		b, err := users.Commands.Encode(tc.cmd)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != tc.json {
			t.Errorf("Encode(%+v) = %s, want %s", tc.cmd, b, tc.json)
		}
		back, err := users.Commands.Decode(b)
		if err != nil {
			t.Fatalf("Decode(%s): %v", b, err)
		}
		if !reflect.DeepEqual(back, tc.cmd) {
			t.Errorf("Decode(%s) = %#v, want %#v", b, back, tc.cmd)
		}
		seen[users.Commands.TypeOf(tc.cmd)] = true
	}
	for _, typ := range users.Commands.Types() {
		if !seen[typ] {
			t.Errorf("no round-trip case for %s", typ)
		}
	}
	if _, err := users.Commands.Decode([]byte(`{"type":"BanUser"}`)); !errors.Is(err, codec.ErrUnknownType) {
		t.Errorf("unknown type: err = %v, want ErrUnknownType", err)
	}
	if _, err := users.Commands.Decode([]byte(`{"type":"UserLoggedIn","at":"2024-05-01T12:00:00Z"}`)); !errors.Is(err, codec.ErrUnknownType) {
		t.Errorf("event as command: err = %v, want ErrUnknownType", err)
	}
}

func TestEntityCommands(t *testing.T) {
	typ, err := users.Entity.Type()
	if err != nil {
		t.Fatal(err)
	}
	if !typ.HasCommands() {
		t.Fatal("users.Entity has no commands")
	}
	want := []string{"AssignRole", "CreateUser", "DeleteUser", "LogIn", "RecordPurchase", "UnassignRole", "UpdateUser"}
	if got := typ.CommandTypes(); !reflect.DeepEqual(got, want) {
		t.Errorf("CommandTypes = %v, want %v", got, want)
	}
}
