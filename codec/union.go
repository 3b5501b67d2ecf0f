package codec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
)

// Union is a JSON codec for a family of event types behind the interface E.
// Each member is registered under a discriminator name; encoding writes the
// name into a "type" field, decoding reads it back to pick the Go type.
//
// Register all members before first use; after that a Union is safe for
// concurrent use.
type Union[E any] struct {
	byName map[string]func() E
	byType map[reflect.Type]string
}

// NewUnion returns an empty union for the interface E.
func NewUnion[E any]() *Union[E] {
	return &Union[E]{byName: map[string]func() E{}, byType: map[reflect.Type]string{}}
}

// Register adds a member: newFn returns a fresh value (usually a pointer to a
// struct) to decode into. It fails on empty or duplicate names and types.
func (u *Union[E]) Register(name string, newFn func() E) error {
	if name == "" {
		return errors.New("codec: union member needs a name")
	}
	if _, dup := u.byName[name]; dup {
		return fmt.Errorf("codec: union member %q registered twice", name)
	}
	t := reflect.TypeOf(newFn())
	if t == nil {
		return fmt.Errorf("codec: union member %q constructor returned nil", name)
	}
	if t.Kind() != reflect.Pointer {
		return fmt.Errorf("codec: union member %q must be a pointer, got %v", name, t)
	}
	if other, dup := u.byType[t]; dup {
		return fmt.Errorf("codec: type %v registered as %q and %q", t, other, name)
	}
	u.byName[name] = newFn
	u.byType[t] = name
	return nil
}

// MustRegister is Register for package initialisation; it panics on a
// programming error (duplicate or empty name).
func (u *Union[E]) MustRegister(name string, newFn func() E) *Union[E] {
	if err := u.Register(name, newFn); err != nil {
		panic(err)
	}
	return u
}

// Types lists the registered discriminators, sorted.
func (u *Union[E]) Types() []string {
	names := make([]string, 0, len(u.byName))
	for n := range u.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// TypeOf returns the discriminator of v, or "" if v's type is not registered.
func (u *Union[E]) TypeOf(v E) string { return u.byType[reflect.TypeOf(v)] }

// Encode writes v as a JSON object with "type" as its first field. Like
// JSON.Encode it does not escape <, > and &.
func (u *Union[E]) Encode(v E) ([]byte, error) {
	name, ok := u.byType[reflect.TypeOf(v)]
	if !ok {
		return nil, fmt.Errorf("%w: %T is not a registered member", ErrUnknownType, v)
	}
	nameJSON, err := marshal(name)
	if err != nil {
		return nil, err
	}
	body, err := marshal(v)
	if err != nil {
		return nil, err
	}
	body = bytes.TrimSpace(body)
	if len(body) < 2 || body[0] != '{' {
		return nil, fmt.Errorf("codec: %T does not encode to a JSON object", v)
	}
	out := make([]byte, 0, len(body)+len(nameJSON)+9)
	out = append(out, `{"type":`...)
	out = append(out, nameJSON...)
	if rest := bytes.TrimSpace(body[1:]); len(rest) > 0 && rest[0] != '}' {
		out = append(out, ',')
	}
	out = append(out, body[1:]...)
	return out, nil
}

// Decode reads the "type" field and unmarshals data into that member.
func (u *Union[E]) Decode(data []byte) (E, error) {
	var zero E
	name, ok := leadingType(data)
	if !ok {
		var head struct {
			Type *string `json:"type"`
		}
		if err := json.Unmarshal(data, &head); err != nil {
			return zero, &DecodeError{Codec: "union", Err: err}
		}
		if head.Type == nil {
			return zero, &DecodeError{Codec: "union", Err: errors.New(`missing "type" field`)}
		}
		name = *head.Type
	}
	newFn, ok := u.byName[name]
	if !ok {
		return zero, &DecodeError{Codec: "union", Type: name, Err: ErrUnknownType}
	}
	v := newFn()
	// Unmarshal checks the whole input (trailing data too) before it decodes.
	if err := json.Unmarshal(data, v); err != nil {
		return zero, &DecodeError{Codec: "union", Type: name, Err: err}
	}
	return v, nil
}

// leadingType reads the type of an event that starts with a plain "type"
// member and has no other "type" key anywhere, which is what Encode writes:
// the one full JSON pass of Decode then does the rest. Anything else (the
// member elsewhere, escapes, a second "type" key whose last value
// encoding/json would take) goes through the general path.
func leadingType(data []byte) (string, bool) {
	const prefix = `{"type":"`
	if !bytes.HasPrefix(data, []byte(prefix)) {
		return "", false
	}
	rest := data[len(prefix):]
	end := bytes.IndexByte(rest, '"')
	if end < 0 {
		return "", false
	}
	name := rest[:end]
	if bytes.IndexByte(name, '\\') >= 0 || bytes.Contains(rest[end:], []byte(`"type"`)) {
		return "", false
	}
	return string(name), true
}

// IsJSON marks the union's encoding as JSON.
func (u *Union[E]) IsJSON() bool { return true }
