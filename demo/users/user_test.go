package users_test

import (
	"errors"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/eventfold/eventfold/codec"
	"github.com/eventfold/eventfold/demo/users"
)

// fold applies events to the zero User and fails the test on an error.
func fold(t *testing.T, events ...users.Event) users.User {
	t.Helper()
	var u users.User
	for i, e := range events {
		var err error
		if u, err = users.Evolve(u, e); err != nil {
			t.Fatalf("history event %d (%T): %v", i, e, err)
		}
	}
	return u
}

var (
	created    = &users.UserCreated{Name: "Ada Lovelace", Email: "ada@example.com"}
	login1     = &users.UserLoggedIn{At: "2024-01-01T10:00:00Z"}
	login2     = &users.UserLoggedIn{At: "2024-01-02T11:30:00+01:00"}
	makeAdmin  = &users.RoleAssigned{Role: "admin"}
	makeEditor = &users.RoleAssigned{Role: "editor"}
	dropAdmin  = &users.RoleUnassigned{Role: "admin"}
	deleted    = &users.UserDeleted{Reason: "user request"}
	bought1    = &users.PurchaseRecorded{OrderID: "order-000001", TotalCents: 2599}
	bought2    = &users.PurchaseRecorded{OrderID: "order-000002", TotalCents: 1000}
)

func TestEvolveValid(t *testing.T) {
	ada := users.User{Name: "Ada Lovelace", Email: "ada@example.com"}
	with := func(u users.User, f func(*users.User)) users.User { f(&u); return u }

	for _, tc := range []struct {
		name    string
		history []users.Event
		event   users.Event
		want    users.User
	}{
		{"create", nil, created, ada},
		{"update name", []users.Event{created}, &users.UserUpdated{Name: "Ada King"},
			with(ada, func(u *users.User) { u.Name = "Ada King" })},
		{"update email", []users.Event{created}, &users.UserUpdated{Email: "ada@work.example"},
			with(ada, func(u *users.User) { u.Email = "ada@work.example" })},
		{"update both", []users.Event{created}, &users.UserUpdated{Name: "Ada King", Email: "ada@work.example"},
			users.User{Name: "Ada King", Email: "ada@work.example"}},
		{"first login", []users.Event{created}, login1,
			with(ada, func(u *users.User) { u.Logins, u.LastLogin = 1, login1.At })},
		{"second login", []users.Event{created, login1}, login2,
			with(ada, func(u *users.User) { u.Logins, u.LastLogin = 2, login2.At })},
		{"assign role", []users.Event{created}, makeEditor,
			with(ada, func(u *users.User) { u.Roles = []string{"editor"} })},
		{"roles stay sorted", []users.Event{created, makeEditor}, makeAdmin,
			with(ada, func(u *users.User) { u.Roles = []string{"admin", "editor"} })},
		{"unassign role", []users.Event{created, makeAdmin, makeEditor}, dropAdmin,
			with(ada, func(u *users.User) { u.Roles = []string{"editor"} })},
		{"unassign last role", []users.Event{created, makeAdmin}, dropAdmin, ada},
		{"reassign role", []users.Event{created, makeAdmin, dropAdmin}, makeAdmin,
			with(ada, func(u *users.User) { u.Roles = []string{"admin"} })},
		{"delete", []users.Event{created, makeAdmin, login1}, deleted,
			with(ada, func(u *users.User) {
				u.Deleted, u.DeleteReason, u.Roles, u.Logins, u.LastLogin = true, "user request", []string{"admin"}, 1, login1.At
			})},
		{"delete without reason", []users.Event{created}, &users.UserDeleted{},
			with(ada, func(u *users.User) { u.Deleted = true })},
		{"first purchase", []users.Event{created}, bought1,
			with(ada, func(u *users.User) { u.Purchases, u.LifetimeCents = 1, 2599 })},
		{"purchases add up", []users.Event{created, bought1}, bought2,
			with(ada, func(u *users.User) { u.Purchases, u.LifetimeCents = 2, 3599 })},
		{"a free purchase counts", []users.Event{created}, &users.PurchaseRecorded{OrderID: "order-000003"},
			with(ada, func(u *users.User) { u.Purchases = 1 })},
		{"the same order again counts again", []users.Event{created, bought1}, bought1,
			with(ada, func(u *users.User) { u.Purchases, u.LifetimeCents = 2, 5198 })},
		{"order id of the longest length", []users.Event{created},
			&users.PurchaseRecorded{OrderID: strings.Repeat("o", users.MaxOrderIDLen), TotalCents: 1},
			with(ada, func(u *users.User) { u.Purchases, u.LifetimeCents = 1, 1 })},
		{"lifetime up to the int64 limit", []users.Event{created, &users.PurchaseRecorded{OrderID: "big", TotalCents: math.MaxInt64 - 1}},
			&users.PurchaseRecorded{OrderID: "one", TotalCents: 1},
			with(ada, func(u *users.User) { u.Purchases, u.LifetimeCents = 2, math.MaxInt64 })},
		{"purchase keeps logins and roles", []users.Event{created, login1, makeAdmin}, bought1,
			with(ada, func(u *users.User) {
				u.Logins, u.LastLogin, u.Roles, u.Purchases, u.LifetimeCents = 1, login1.At, []string{"admin"}, 1, 2599
			})},
		{"delete keeps purchases", []users.Event{created, bought1}, deleted,
			with(ada, func(u *users.User) {
				u.Deleted, u.DeleteReason, u.Purchases, u.LifetimeCents = true, "user request", 1, 2599
			})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := fold(t, tc.history...)
			got, err := users.Evolve(before, tc.event)
			if err != nil {
				t.Fatalf("Evolve: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Evolve =\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}
}

func TestEvolveInvalid(t *testing.T) {
	gone := []users.Event{created, makeAdmin, deleted}
	for _, tc := range []struct {
		name    string
		history []users.Event
		event   users.Event
		reason  string // substring of the error
	}{
		{"login before create", nil, login1, "does not exist"},
		{"update before create", nil, &users.UserUpdated{Name: "x"}, "does not exist"},
		{"delete before create", nil, deleted, "does not exist"},
		{"assign before create", nil, makeAdmin, "does not exist"},
		{"unassign before create", nil, dropAdmin, "does not exist"},
		{"create twice", []users.Event{created}, created, "already created"},
		{"create after delete", gone, created, "already created"},
		{"create without name", nil, &users.UserCreated{Email: "a@example.com"}, "name and email are required"},
		{"create without email", nil, &users.UserCreated{Name: "A"}, "name and email are required"},

		{"empty update", []users.Event{created}, &users.UserUpdated{}, "nothing to update"},
		{"login without time", []users.Event{created}, &users.UserLoggedIn{}, "RFC 3339"},
		{"login with bad time", []users.Event{created}, &users.UserLoggedIn{At: "yesterday"}, "RFC 3339"},
		{"assign empty role", []users.Event{created}, &users.RoleAssigned{}, "role is required"},
		{"assign held role", []users.Event{created, makeAdmin}, makeAdmin, `already has role "admin"`},
		{"unassign role never held", []users.Event{created, makeEditor}, dropAdmin, `does not have role "admin"`},
		{"unassign role twice", []users.Event{created, makeAdmin, dropAdmin}, dropAdmin, `does not have role "admin"`},
		{"unassign from no roles", []users.Event{created}, dropAdmin, `does not have role "admin"`},

		{"login of deleted user", gone, login1, "user is deleted"},
		{"update deleted user", gone, &users.UserUpdated{Name: "Ghost"}, "user is deleted"},
		{"assign role to deleted user", gone, makeEditor, "user is deleted"},
		{"unassign role of deleted user", gone, dropAdmin, "user is deleted"},
		{"delete twice", gone, deleted, "user is deleted"},

		{"purchase before create", nil, bought1, "does not exist"},
		{"purchase of deleted user", gone, bought1, "user is deleted"},
		{"purchase without order id", []users.Event{created}, &users.PurchaseRecorded{TotalCents: 2599}, "order_id is required"},
		{"purchase with too long order id", []users.Event{created},
			&users.PurchaseRecorded{OrderID: strings.Repeat("o", users.MaxOrderIDLen+1), TotalCents: 2599}, "order_id must be at most 128 bytes, got 129"},
		{"purchase with negative total", []users.Event{created}, &users.PurchaseRecorded{OrderID: "order-000001", TotalCents: -1},
			"total_cents must be >= 0, got -1"},
		{"purchase overflowing the lifetime total", []users.Event{created, &users.PurchaseRecorded{OrderID: "big", TotalCents: math.MaxInt64}},
			&users.PurchaseRecorded{OrderID: "one", TotalCents: 1}, "would overflow lifetime_cents"},

		{"nil event", []users.Event{created}, nil, "unsupported event"},
		{"typed nil event", []users.Event{created}, (*users.UserLoggedIn)(nil), "unsupported event"},
		{"typed nil create", nil, (*users.UserCreated)(nil), "unsupported event"},
		{"typed nil purchase", []users.Event{created}, (*users.PurchaseRecorded)(nil), "unsupported event"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := fold(t, tc.history...)
			got, err := users.Evolve(before, tc.event)
			if !errors.Is(err, users.ErrInvalidTransition) {
				t.Fatalf("err = %v, want ErrInvalidTransition", err)
			}
			if !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("err = %q, want it to mention %q", err, tc.reason)
			}
			if !reflect.DeepEqual(got, before) {
				t.Errorf("state changed on error:\n%+v\nwas\n%+v", got, before)
			}
		})
	}
}

func TestEvolveDoesNotModifyInput(t *testing.T) {
	u := fold(t, created, makeAdmin, makeEditor)
	roles := slices.Clone(u.Roles)
	for _, e := range []users.Event{dropAdmin, &users.RoleAssigned{Role: "billing"}, &users.RoleAssigned{Role: "viewer"}} {
		if _, err := users.Evolve(u, e); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(u.Roles, roles) {
			t.Fatalf("after %T: input roles %v, were %v", e, u.Roles, roles)
		}
	}
}

func TestEventsRoundTrip(t *testing.T) {
	cases := []struct {
		event users.Event
		json  string
	}{
		{created, `{"type":"UserCreated","name":"Ada Lovelace","email":"ada@example.com"}`},
		{&users.UserUpdated{Name: "Ada King"}, `{"type":"UserUpdated","name":"Ada King"}`},
		{&users.UserUpdated{Email: "ada@work.example"}, `{"type":"UserUpdated","email":"ada@work.example"}`},
		{&users.UserUpdated{Name: "A", Email: "a@b"}, `{"type":"UserUpdated","name":"A","email":"a@b"}`},
		{deleted, `{"type":"UserDeleted","reason":"user request"}`},
		{&users.UserDeleted{}, `{"type":"UserDeleted"}`},
		{login1, `{"type":"UserLoggedIn","at":"2024-01-01T10:00:00Z"}`},
		{makeAdmin, `{"type":"RoleAssigned","role":"admin"}`},
		{dropAdmin, `{"type":"RoleUnassigned","role":"admin"}`},
		{bought1, `{"type":"PurchaseRecorded","order_id":"order-000001","total_cents":2599}`},
		{&users.PurchaseRecorded{OrderID: "o"}, `{"type":"PurchaseRecorded","order_id":"o","total_cents":0}`},
	}
	seen := map[string]bool{}
	for _, tc := range cases {
		b, err := users.Events.Encode(tc.event)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != tc.json {
			t.Errorf("Encode(%+v) = %s, want %s", tc.event, b, tc.json)
		}
		back, err := users.Events.Decode(b)
		if err != nil {
			t.Fatalf("Decode(%s): %v", b, err)
		}
		if !reflect.DeepEqual(back, tc.event) {
			t.Errorf("Decode(%s) = %#v, want %#v", b, back, tc.event)
		}
		seen[users.Events.TypeOf(tc.event)] = true
	}
	for _, typ := range users.Events.Types() {
		if !seen[typ] {
			t.Errorf("no round-trip case for %s", typ)
		}
	}
	if _, err := users.Events.Decode([]byte(`{"type":"UserBanned"}`)); !errors.Is(err, codec.ErrUnknownType) {
		t.Errorf("unknown type: err = %v, want ErrUnknownType", err)
	}
}

func TestStateJSON(t *testing.T) {
	var c codec.JSON[users.User]
	for _, tc := range []struct {
		events []users.Event
		want   string
	}{
		{[]users.Event{created}, `{"name":"Ada Lovelace","email":"ada@example.com","logins":0}`},
		// No roles left encodes like never having had one.
		{[]users.Event{created, makeAdmin, dropAdmin}, `{"name":"Ada Lovelace","email":"ada@example.com","logins":0}`},
		{[]users.Event{created, makeEditor, makeAdmin, login1, deleted},
			`{"name":"Ada Lovelace","email":"ada@example.com","deleted":true,"delete_reason":"user request",` +
				`"roles":["admin","editor"],"logins":1,"last_login":"2024-01-01T10:00:00Z"}`},
		{[]users.Event{created, bought1, bought2},
			`{"name":"Ada Lovelace","email":"ada@example.com","logins":0,"purchases":2,"lifetime_cents":3599}`},
		// A free purchase counts, and a zero lifetime total is omitted.
		{[]users.Event{created, &users.PurchaseRecorded{OrderID: "order-000003"}},
			`{"name":"Ada Lovelace","email":"ada@example.com","logins":0,"purchases":1}`},
		{[]users.Event{created, makeAdmin, login1, bought1, deleted},
			`{"name":"Ada Lovelace","email":"ada@example.com","deleted":true,"delete_reason":"user request",` +
				`"roles":["admin"],"logins":1,"last_login":"2024-01-01T10:00:00Z","purchases":1,"lifetime_cents":2599}`},
	} {
		u := fold(t, tc.events...)
		b, err := c.Encode(u)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != tc.want {
			t.Errorf("state JSON\n%s\nwant\n%s", b, tc.want)
		}
		back, err := c.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, u) {
			t.Errorf("round trip = %+v, want %+v", back, u)
		}
	}
}

func TestHasRole(t *testing.T) {
	u := fold(t, created, makeEditor)
	if !u.HasRole("editor") || u.HasRole("admin") {
		t.Errorf("HasRole wrong for roles %v", u.Roles)
	}
	if (users.User{}).Exists() || !u.Exists() {
		t.Error("Exists is wrong")
	}
}

func TestEntity(t *testing.T) {
	typ, err := users.Entity.Type()
	if err != nil {
		t.Fatal(err)
	}
	if typ.Name() != "users" || typ.Topic() != "users-events" {
		t.Errorf("name %q topic %q", typ.Name(), typ.Topic())
	}
	want := []string{"PurchaseRecorded", "RoleAssigned", "RoleUnassigned", "UserCreated", "UserDeleted", "UserLoggedIn", "UserUpdated"}
	if got := typ.EventTypes(); !reflect.DeepEqual(got, want) {
		t.Errorf("EventTypes = %v, want %v", got, want)
	}
}
