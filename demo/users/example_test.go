package users_test

import (
	"fmt"

	"github.com/eventfold/eventfold/codec"
	"github.com/eventfold/eventfold/demo/users"
)

// A user logs in, gets roles, is deleted; a later login is rejected.
func Example() {
	var user users.User
	for _, e := range []users.Event{
		&users.UserCreated{Name: "Grace Hopper", Email: "grace@example.com"},
		&users.UserLoggedIn{At: "2024-03-01T09:00:00Z"},
		&users.RoleAssigned{Role: "editor"},
		&users.RoleAssigned{Role: "admin"},
		&users.UserDeleted{Reason: "user request"},
		&users.UserLoggedIn{At: "2024-03-02T09:00:00Z"},
	} {
		next, err := users.Evolve(user, e)
		if err != nil {
			fmt.Println("dead letter:", err)
			continue
		}
		user = next
	}
	state, _ := codec.JSON[users.User]{}.Encode(user)
	fmt.Println(string(state))
	// Output:
	// dead letter: users: invalid transition: UserLoggedIn: user is deleted
	// {"name":"Grace Hopper","email":"grace@example.com","deleted":true,"delete_reason":"user request","roles":["admin","editor"],"logins":1,"last_login":"2024-03-01T09:00:00Z"}
}

// Commands are decided against the current user: a deleted user cannot log
// in, and Decide says why.
func ExampleDecide() {
	user, _ := users.Evolve(users.User{}, &users.UserCreated{Name: "Grace Hopper", Email: "grace@example.com"})
	for _, data := range []string{
		`{"type":"LogIn","at":"2024-03-01T09:00:00Z"}`,
		`{"type":"AssignRole","role":"admin"}`,
		`{"type":"AssignRole","role":"admin"}`,
		`{"type":"RecordPurchase","order_id":"order-000042","total_cents":2599}`,
		`{"type":"DeleteUser","reason":"user request"}`,
		`{"type":"LogIn","at":"2024-03-02T09:00:00Z"}`,
	} {
		cmd, err := users.Commands.Decode([]byte(data))
		if err != nil {
			fmt.Println("undecodable:", err)
			continue
		}
		events, err := users.Decide(user, cmd)
		if err != nil {
			fmt.Println("rejected:", err)
			continue
		}
		for _, e := range events {
			out, _ := users.Events.Encode(e)
			fmt.Println(string(out))
			user, _ = users.Evolve(user, e)
		}
	}
	// Output:
	// {"type":"UserLoggedIn","at":"2024-03-01T09:00:00Z"}
	// {"type":"RoleAssigned","role":"admin"}
	// rejected: cannot assign role: user already has role "admin"
	// {"type":"PurchaseRecorded","order_id":"order-000042","total_cents":2599}
	// {"type":"UserDeleted","reason":"user request"}
	// rejected: cannot log in: user is deleted
}
