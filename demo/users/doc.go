// Package users is the user domain of the seed articles, declared as an
// eventfold entity type.
//
//	UserCreated ─► UserUpdated / UserLoggedIn / RoleAssigned / RoleUnassigned / PurchaseRecorded … ─► UserDeleted
//
// Evolve folds the events into a User. It is pure: a login carries its own
// time (UserLoggedIn.At), Evolve never reads a clock. An invalid transition
// (a deleted user logging in, assigning a role the user already has, ...)
// returns an error wrapping ErrInvalidTransition, so the processor sends the
// event to the dead-letter topic and leaves the user unchanged. Entity is the
// entity.Entity to register with a processor; events are JSON objects with
// a "type" discriminator:
//
//	{"type":"RoleAssigned","role":"admin"}
//
// PurchaseRecorded counts an order the user bought (User.Purchases) and adds
// its total to User.LifetimeCents; an order process manager records one with
// RecordPurchase when one of the user's orders ships.
//
// The write side: Commands decodes the commands CreateUser, UpdateUser,
// DeleteUser, LogIn, AssignRole, UnassignRole and RecordPurchase, and the
// pure Decide validates one against the current User and returns the event
// that carries it out, or an error wrapping ErrRejected with a readable
// reason ("cannot log in: user is deleted"). LogIn carries its time
// (LogIn.At), so Decide never reads a clock either. Decide reuses Evolve's
// rules, so what it accepts always applies.
package users
