package codec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// ErrDecode is wrapped by every decoding failure.
var ErrDecode = errors.New("codec: cannot decode")

// ErrUnknownType is wrapped when a Union meets a discriminator it has no type for.
var ErrUnknownType = errors.New("codec: unknown type")

// ErrDuplicateType is wrapped when a Union decodes an object with more than
// one top-level "type" member, keys compared as encoding/json matches them
// (case-insensitively, after unescaping): which one decided would depend on
// the decoder, and encoding/json itself takes the last.
var ErrDuplicateType = errors.New(`codec: more than one "type" member`)

// ErrInvalidUTF8 is wrapped when JSON input is not valid UTF-8: encoding/json
// would decode the bad bytes as U+FFFD, so the stored bytes and the decoded
// value would disagree.
var ErrInvalidUTF8 = errors.New("codec: invalid UTF-8")

// Codec converts values of type T to bytes and back.
// Implementations must be safe for concurrent use.
type Codec[T any] interface {
	Encode(v T) ([]byte, error)
	Decode(data []byte) (T, error)
}

// DecodeError says what could not be decoded and why.
type DecodeError struct {
	Codec string // which codec failed, e.g. "json" or "union"
	Type  string // the discriminator, when known
	Err   error
}

func (e *DecodeError) Error() string {
	if e.Type != "" {
		return fmt.Sprintf("codec %s: cannot decode %q: %v", e.Codec, e.Type, e.Err)
	}
	return fmt.Sprintf("codec %s: cannot decode: %v", e.Codec, e.Err)
}

// Unwrap lets errors.Is find both ErrDecode and the cause.
func (e *DecodeError) Unwrap() []error { return []error{ErrDecode, e.Err} }

// JSON encodes T with encoding/json, without HTML escaping. The zero value is
// ready to use.
type JSON[T any] struct{}

// Encode marshals v. Unlike json.Marshal it writes <, > and & as they are:
// escaped they take 6 bytes for 1, and eventfold serves stored bytes as
// application/json, never inside HTML.
func (JSON[T]) Encode(v T) ([]byte, error) { return marshal(v) }

// Decode unmarshals data into a new T. It refuses input that is not valid
// UTF-8 (ErrInvalidUTF8).
func (JSON[T]) Decode(data []byte) (T, error) {
	var v T
	if !utf8.Valid(data) {
		return v, &DecodeError{Codec: "json", Err: ErrInvalidUTF8}
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return v, &DecodeError{Codec: "json", Err: err}
	}
	return v, nil
}

// marshal is json.Marshal without HTML escaping.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	// Encode ends the document with a newline; json.Marshal does not.
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}

// IsJSON marks codecs whose encoding is a JSON document, so HTTP responses can
// embed the stored bytes without decoding and re-encoding them.
func (JSON[T]) IsJSON() bool { return true }

// Bytes passes byte slices through unchanged.
type Bytes struct{}

// Encode returns v.
func (Bytes) Encode(v []byte) ([]byte, error) { return v, nil }

// Decode returns data.
func (Bytes) Decode(data []byte) ([]byte, error) { return data, nil }
