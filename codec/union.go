package codec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Union is a JSON codec for a family of event types behind the interface E.
// Each member is registered under a discriminator name; encoding writes the
// name into a "type" field, decoding reads it back to pick the Go type. An
// object with more than one top-level "type" member does not decode, so a
// member must not encode a "type" member of its own (Encode refuses it).
//
// Register all members before first use; after that a Union is safe for
// concurrent use.
type Union[E any] struct {
	byName map[string]func() E
	byType map[reflect.Type]string
	// older are a member's earlier versions, oldest first (Upcast): the
	// member itself is version len(older[name])+1.
	older map[string][]olderVersion
}

// olderVersion is one earlier shape of a member and how it becomes the
// next one.
type olderVersion struct {
	newFn func() any
	up    func(any) (any, error)
}

// NewUnion returns an empty union for the interface E.
func NewUnion[E any]() *Union[E] {
	return &Union[E]{byName: map[string]func() E{}, byType: map[reflect.Type]string{}, older: map[string][]olderVersion{}}
}

// Upcast registers an earlier version of the member name, which must be
// registered already: the first call registers version 1, the next
// version 2, and so on, and the member itself is then the newest version.
// newFn returns a value to decode that version into; up turns one into
// the next version's value (the next earlier one's, or the member's E).
//
// Stored events are never rewritten: an event's version is its "v" member
// (absent: 1); Encode writes the newest with "v" (when there is more than
// one version), and Decode brings every older one up to the newest, so
// whoever decodes (the fold, the history, subscribers) sees one shape.
// An up that fails, or a version the union does not know, does not decode.
func (u *Union[E]) Upcast(name string, newFn func() any, up func(old any) (any, error)) error {
	if _, ok := u.byName[name]; !ok {
		return fmt.Errorf("codec: Upcast(%q): register the member first", name)
	}
	if newFn == nil || up == nil {
		return fmt.Errorf("codec: Upcast(%q): newFn and up are required", name)
	}
	if t := reflect.TypeOf(newFn()); t == nil || t.Kind() != reflect.Pointer {
		return fmt.Errorf("codec: Upcast(%q): newFn must return a pointer, got %v", name, t)
	}
	u.older[name] = append(u.older[name], olderVersion{newFn: newFn, up: up})
	return nil
}

// MustUpcast is Upcast for package initialisation.
func (u *Union[E]) MustUpcast(name string, newFn func() any, up func(old any) (any, error)) *Union[E] {
	if err := u.Upcast(name, newFn, up); err != nil {
		panic(err)
	}
	return u
}

// Version is the newest version of the member name (1 without Upcast).
func (u *Union[E]) Version(name string) int { return len(u.older[name]) + 1 }

// Register adds a member: newFn returns a fresh value (usually a pointer to a
// struct) to decode into. It fails on empty or duplicate names and types.
func (u *Union[E]) Register(name string, newFn func() E) error {
	if name == "" {
		return errors.New("codec: union member needs a name")
	}
	if !utf8.ValidString(name) {
		return fmt.Errorf("codec: union member name %q is not valid UTF-8", name)
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
	if own, err := typeMember(body); err != nil || own != nil {
		// Decode would refuse the result (ErrDuplicateType).
		return nil, fmt.Errorf(`codec: %T encodes a "type" member of its own; the union writes the discriminator there`, v)
	}
	version := u.Version(name)
	if version > 1 {
		if own, err := member(body, isVersionKey); err != nil || own != nil {
			return nil, fmt.Errorf(`codec: %T encodes a "v" member of its own; the union writes the version there`, v)
		}
	}
	out := make([]byte, 0, len(body)+len(nameJSON)+20)
	out = append(out, `{"type":`...)
	out = append(out, nameJSON...)
	if version > 1 {
		out = append(out, `,"v":`...)
		out = strconv.AppendInt(out, int64(version), 10)
	}
	if rest := bytes.TrimSpace(body[1:]); len(rest) > 0 && rest[0] != '}' {
		out = append(out, ',')
	}
	out = append(out, body[1:]...)
	return out, nil
}

// Decode reads the "type" member and unmarshals data into that member: one
// json.Unmarshal, after a scan of the object's top level for its "type"
// member, or none for an event as Encode writes it (leadingType). It refuses an object with more than one top-level "type"
// member, keys compared as encoding/json matches them (case-insensitively,
// after unescaping): ErrDuplicateType. Which one decided would otherwise
// depend on the decoder; encoding/json takes the last. It refuses input that
// is not valid UTF-8 (ErrInvalidUTF8).
func (u *Union[E]) Decode(data []byte) (E, error) {
	var zero E
	if !utf8.Valid(data) {
		return zero, &DecodeError{Codec: "union", Err: ErrInvalidUTF8}
	}
	name, ok := leadingType(data)
	if !ok {
		var err error
		if name, err = topLevelType(data); err != nil {
			return zero, decodeError(data, "", err)
		}
	}
	newFn, ok := u.byName[name]
	if !ok {
		return zero, decodeError(data, name, ErrUnknownType)
	}
	if older := u.older[name]; len(older) > 0 {
		return u.decodeVersion(data, name, newFn, older)
	}
	v := newFn()
	// Unmarshal checks the whole input (trailing data too) before it decodes.
	if err := json.Unmarshal(data, v); err != nil {
		return zero, &DecodeError{Codec: "union", Type: name, Err: err}
	}
	return v, nil
}

// decodeVersion decodes a member that has earlier versions: its "v"
// member says which (absent: 1), and the upcasters bring it to the newest.
func (u *Union[E]) decodeVersion(data []byte, name string, newFn func() E, older []olderVersion) (E, error) {
	var zero E
	raw, err := member(data, isVersionKey)
	if err != nil {
		if errors.Is(err, ErrDuplicateType) {
			err = errDuplicateVersion
		}
		return zero, decodeError(data, name, err)
	}
	version := 1
	if raw != nil {
		n, err := strconv.Atoi(string(raw))
		if err != nil || n < 1 || n > len(older)+1 {
			return zero, &DecodeError{Codec: "union", Type: name, Err: fmt.Errorf("%w: version %s of %q (known: 1..%d)", ErrUnknownType, limitText(raw), name, len(older)+1)}
		}
		version = n
	}
	if version == len(older)+1 {
		v := newFn()
		if err := json.Unmarshal(data, v); err != nil {
			return zero, &DecodeError{Codec: "union", Type: name, Err: err}
		}
		return v, nil
	}
	var val any = older[version-1].newFn()
	if err := json.Unmarshal(data, val); err != nil {
		return zero, &DecodeError{Codec: "union", Type: name, Err: err}
	}
	for i := version - 1; i < len(older); i++ {
		if val, err = older[i].up(val); err != nil {
			return zero, &DecodeError{Codec: "union", Type: name, Err: fmt.Errorf("upcasting %q from version %d: %w", name, i+1, err)}
		}
	}
	v, ok := val.(E)
	if !ok || reflect.TypeOf(val) != reflect.TypeOf(newFn()) {
		return zero, &DecodeError{Codec: "union", Type: name, Err: fmt.Errorf("the upcasters of %q end in %T, not the member's type", name, val)}
	}
	return v, nil
}

var errDuplicateVersion = errors.New(`more than one "v" member`)

func limitText(b []byte) string {
	if len(b) > 32 {
		b = b[:32]
	}
	return strconv.Quote(string(b))
}

// leadingType is Decode's fast path, for events as Encode writes them: one
// that starts with a plain "type" member, and whose rest cannot hold another
// key that encoding/json matches to "type", needs no scan. Such a key is
// "type" in any case, which ends in pe", pE", Pe" or PE" (only ASCII letters
// fold to t, y, p and e), or it has a \u escape (no other escape yields a
// letter). Anything else goes to topLevelType, which gives the same answer.
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
	name, after := rest[:end], rest[end:]
	if bytes.IndexByte(name, '\\') >= 0 || bytes.Contains(after, []byte(`\u`)) ||
		bytes.Contains(after, []byte(`pe"`)) || bytes.Contains(after, []byte(`pE"`)) ||
		bytes.Contains(after, []byte(`Pe"`)) || bytes.Contains(after, []byte(`PE"`)) {
		return "", false
	}
	return string(name), true
}

// decodeError reports err, unless data is not JSON at all: then the syntax
// error, whatever the type scan made of it.
func decodeError(data []byte, name string, err error) error {
	if !json.Valid(data) {
		var raw json.RawMessage
		return &DecodeError{Codec: "union", Err: json.Unmarshal(data, &raw)}
	}
	return &DecodeError{Codec: "union", Type: name, Err: err}
}

var (
	errNotObject = errors.New("not a JSON object")
	errNoType    = errors.New(`missing "type" field`)
	errSyntax    = errors.New("invalid JSON")
)

// topLevelType returns the value of the one top-level member of the object
// data whose key encoding/json matches to "type".
func topLevelType(data []byte) (string, error) {
	raw, err := typeMember(data)
	if err != nil {
		return "", err
	}
	if raw == nil || string(raw) == "null" {
		return "", errNoType
	}
	if len(raw) >= 2 && raw[0] == '"' && bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1]), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", err
	}
	return s, nil
}

// typeMember returns the raw value of the one top-level member of the object
// data whose key encoding/json matches to "type" (strings.EqualFold after
// unescaping: the folding encoding/json uses), or nil if there is none.
// Nested objects may have their own "type" members. It reads only the top
// level and skips nested values without decoding them, and allocates nothing
// for plain keys. It is exact for valid JSON; for anything else Decode
// reports the syntax error (and json.Unmarshal refuses what it accepted).
func typeMember(data []byte) ([]byte, error) { return member(data, isTypeKey) }

// member returns the raw value of the one top-level member of the object
// data whose key is matches (ErrDuplicateType for two), or nil.
func member(data []byte, is func(key []byte, escaped bool) bool) ([]byte, error) {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return nil, errNotObject
	}
	var value []byte
	for i = skipSpace(data, i+1); i < len(data) && data[i] != '}'; {
		keyEnd, escaped := skipString(data, i)
		if keyEnd < 0 {
			return nil, errSyntax
		}
		key := data[i:keyEnd]
		i = skipSpace(data, keyEnd)
		if i >= len(data) || data[i] != ':' {
			return nil, errSyntax
		}
		i = skipSpace(data, i+1)
		valueEnd := skipValue(data, i)
		if valueEnd < 0 {
			return nil, errSyntax
		}
		if is(key, escaped) {
			if value != nil {
				return nil, ErrDuplicateType
			}
			value = data[i:valueEnd]
		}
		i = skipSpace(data, valueEnd)
		if i < len(data) && data[i] == ',' {
			i = skipSpace(data, i+1)
		}
	}
	return value, nil
}

// isTypeKey reports whether encoding/json matches the quoted key to "type".
func isTypeKey(key []byte, escaped bool) bool {
	if !escaped {
		return len(key) == 6 && bytes.EqualFold(key[1:5], []byte("type"))
	}
	var s string
	return json.Unmarshal(key, &s) == nil && strings.EqualFold(s, "type")
}

// isVersionKey reports whether encoding/json matches the quoted key to "v".
func isVersionKey(key []byte, escaped bool) bool {
	if !escaped {
		return len(key) == 3 && (key[1] == 'v' || key[1] == 'V')
	}
	var s string
	return json.Unmarshal(key, &s) == nil && strings.EqualFold(s, "v")
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at data[i] (a
// quote), whether it has escapes, or -1 if it does not end.
func skipString(data []byte, i int) (int, bool) {
	if i >= len(data) || data[i] != '"' {
		return -1, false
	}
	escaped := false
	for i++; i < len(data); i++ {
		switch data[i] {
		case '\\':
			escaped = true
			i++
		case '"':
			return i + 1, escaped
		}
	}
	return -1, false
}

// skipValue returns the index after the JSON value starting at data[i], or
// -1. Nested objects and arrays are skipped by counting brackets outside
// strings; their syntax is left to json.Unmarshal.
func skipValue(data []byte, i int) int {
	if i >= len(data) {
		return -1
	}
	switch data[i] {
	case '"':
		end, _ := skipString(data, i)
		return end
	case '{', '[':
		depth := 0
		for i < len(data) {
			switch data[i] {
			case '"':
				end, _ := skipString(data, i)
				if end < 0 {
					return -1
				}
				i = end
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return -1
	}
	start := i // a number, true, false or null
	for ; i < len(data); i++ {
		if c := data[i]; c == ',' || c == '}' || c == ']' || c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			break
		}
	}
	if i == start {
		return -1
	}
	return i
}

// IsJSON marks the union's encoding as JSON.
func (u *Union[E]) IsJSON() bool { return true }
