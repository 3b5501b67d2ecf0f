package codec_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/eventfold/eventfold/codec"
)

type event interface{ isEvent() }

type created struct {
	Name string `json:"name"`
}
type renamed struct {
	From string `json:"from"`
	To   string `json:"to"`
}
type ping struct{}

func (*created) isEvent() {}
func (*renamed) isEvent() {}
func (*ping) isEvent()    {}

func newUnion(t testing.TB) *codec.Union[event] {
	t.Helper()
	u := codec.NewUnion[event]()
	for name, fn := range map[string]func() event{
		"Created": func() event { return &created{} },
		"Renamed": func() event { return &renamed{} },
		"Ping":    func() event { return &ping{} },
	} {
		if err := u.Register(name, fn); err != nil {
			t.Fatal(err)
		}
	}
	return u
}

func TestUnionRoundTrip(t *testing.T) {
	u := newUnion(t)
	for _, tc := range []struct {
		in   event
		want string
	}{
		{&created{Name: "a"}, `{"type":"Created","name":"a"}`},
		{&renamed{From: "a", To: "b"}, `{"type":"Renamed","from":"a","to":"b"}`},
		{&ping{}, `{"type":"Ping"}`},
	} {
		b, err := u.Encode(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != tc.want {
			t.Errorf("Encode(%#v) = %s, want %s", tc.in, b, tc.want)
		}
		back, err := u.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, tc.in) {
			t.Errorf("Decode(%s) = %#v, want %#v", b, back, tc.in)
		}
	}
}

func TestUnionDecodeErrors(t *testing.T) {
	u := newUnion(t)
	for _, tc := range []struct {
		name    string
		in      string
		unknown bool
	}{
		{"garbage", "\x00\xffnot json", false},
		{"no type", `{"name":"a"}`, false},
		{"unknown type", `{"type":"Deleted"}`, true},
		{"wrong field type", `{"type":"Created","name":7}`, false},
		{"array", `[1,2]`, false},
		{"empty", ``, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := u.Decode([]byte(tc.in))
			if !errors.Is(err, codec.ErrDecode) {
				t.Fatalf("err = %v, want ErrDecode", err)
			}
			if errors.Is(err, codec.ErrUnknownType) != tc.unknown {
				t.Fatalf("errors.Is(ErrUnknownType) = %v, want %v (%v)", !tc.unknown, tc.unknown, err)
			}
			var de *codec.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("err %T is not a *DecodeError", err)
			}
		})
	}
}

func TestUnionRegisterRejects(t *testing.T) {
	u := newUnion(t)
	if err := u.Register("Created", func() event { return &ping{} }); err == nil {
		t.Error("duplicate name accepted")
	}
	if err := u.Register("Other", func() event { return &created{} }); err == nil {
		t.Error("duplicate type accepted")
	}
	if err := u.Register("", func() event { return &created{} }); err == nil {
		t.Error("empty name accepted")
	}
	if got := u.Types(); !reflect.DeepEqual(got, []string{"Created", "Ping", "Renamed"}) {
		t.Errorf("Types() = %v", got)
	}
}

func TestUnionEncodeUnregistered(t *testing.T) {
	u := codec.NewUnion[event]()
	if _, err := u.Encode(&created{}); !errors.Is(err, codec.ErrUnknownType) {
		t.Fatalf("err = %v, want ErrUnknownType", err)
	}
}

func TestJSON(t *testing.T) {
	var c codec.JSON[map[string]int]
	b, err := c.Encode(map[string]int{"a": 1})
	if err != nil {
		t.Fatal(err)
	}
	v, err := c.Decode(b)
	if err != nil || v["a"] != 1 {
		t.Fatalf("Decode = %v, %v", v, err)
	}
	if _, err := c.Decode([]byte("{")); !errors.Is(err, codec.ErrDecode) {
		t.Fatalf("err = %v, want ErrDecode", err)
	}
}

// generalDecode is the reference Decode is checked against, built from
// encoding/json alone: an object with more than one top-level key that
// encoding/json matches to the "type" field is refused (encoding/json itself
// would take the last); otherwise the "type" member picks the type and
// json.Unmarshal decodes the whole input (trailing data is an error). Input
// that is not valid UTF-8 is refused.
func generalDecode(data []byte) (event, error) {
	if !utf8.Valid(data) {
		return nil, errors.New("not UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errors.New("not an object")
	}
	types := 0
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, err
		}
		// Does encoding/json match this key to the field tagged "type"?
		key, _ := json.Marshal(tok.(string))
		var probe struct {
			Type *string `json:"type"`
		}
		if err := json.Unmarshal([]byte(`{`+string(key)+`:"x"}`), &probe); err != nil {
			return nil, err
		}
		if probe.Type != nil {
			types++
		}
	}
	if types > 1 {
		return nil, errors.New("more than one type member")
	}
	var head struct {
		Type *string `json:"type"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, err
	}
	if head.Type == nil {
		return nil, errors.New("no type")
	}
	var v event
	switch *head.Type {
	case "Created":
		v = &created{}
	case "Renamed":
		v = &renamed{}
	case "Ping":
		v = &ping{}
	default:
		return nil, errors.New("unknown")
	}
	return v, json.Unmarshal(data, v)
}

// Decode reads the type without a separate pass when the event starts with
// it; whatever the input, the answer is the one of the general path: one
// "type" member (as encoding/json matches keys) decides, trailing data is an
// error.
func TestUnionDecodeAgreesWithTheGeneralPath(t *testing.T) {
	u := newUnion(t)
	for _, in := range agreementCases {
		want, wantErr := generalDecode([]byte(in))
		got, err := u.Decode([]byte(in))
		if (err != nil) != (wantErr != nil) || err == nil && !reflect.DeepEqual(got, want) {
			t.Errorf("Decode(%s) = %#v, %v; the general path: %#v, %v", in, got, err, want, wantErr)
		}
	}
}

// agreementCases seed TestUnionDecodeAgreesWithTheGeneralPath and the fuzz
// targets.
var agreementCases = []string{
	`{"type":"Created","name":"a"}`,
	`{"type":"Created","name":"a","type":"Renamed","to":"b"}`,
	`{"type":"Renamed","to":"type"}`,
	`{"type":"Renamed","to":"TYPE"}`,
	`{"type":"Renamed","meta":{"type":"Created"},"from":"x"}`,
	`{"type":"Renamed","meta":{"Type":"Created","type":"Ping"},"from":"x"}`,
	`{"type":"Cr\u0065ated","name":"a"}`,
	`{ "type" : "Created", "name": "a" }`,
	`{"name":"a","type":"Created"}`,
	`{"TYPE":"Created","name":"a"}`,
	`{"type":"Created","name":"a"} trailing`,
	`{"type":"Created","name":"a"} {}`,
	`{"type":"Created","name":}`,
	`{"type":"Created"`,
	`{"type":"Deleted"}`,
	`{"type":"Deleted"} trailing`,
	`{"type":"Deleted",`,
	`{"type":"Ping"}`,
	`{"type":null}`,
	`{"type":7}`,
	`[1,2]`,
	``,
	// Duplicates, as encoding/json matches keys: case-insensitively, after
	// unescaping.
	`{"type":"Created","Type":"Renamed"}`,
	`{ "type":"Created","Type":"Renamed"}`,
	`{"type":"Created","TYPE":"Created"}`,
	`{"type":"Created","typ\u0065":"Renamed"}`,
	`{"type":"Created","\u0054ype":"Renamed"}`,
	`{"type":"Created","name":"a","tYpE":null}`,
	`{"Type":"Renamed","type":"Created"}`,
	`{"type":"Ping","type":"Ping"}`,
	// What the fast path's bail-out looks for, in values: fine.
	`{"type":"Created","name":"recipe"}`,
	`{"type":"Created","name":"TYPE","x":"tyPE"}`,
	`{"type":"Created","name":"a","tyPE":"Created"}`,
	`{"type":"Created","meta":{"TyPe":"Created"},"name":"a"}`,
	// Escapes elsewhere go the general path and are fine.
	`{"type":"Created","name":"\u003ca\u0026b\u003e"}`,
	`{"type":"Created","name":"a\"type\"b"}`,
	`{"type":"Created","n\u0061me":"a"}`,
	// Not UTF-8, in a value, a key, the name, outside any string.
	"{\"type\":\"Created\",\"name\":\"a\xffb\"}",
	"{\"type\":\"Created\",\"n\xc3\":\"a\"}",
	"{\"type\":\"Cr\xe9ated\"}",
	"{\"type\":\"Created\"}\xff",
	// Surrogate escapes are valid UTF-8 text (a lone one decodes as U+FFFD).
	`{"type":"Created","name":"\ud83d\ude00 \ud800"}`,
}

// A 180 KB event of '<' became a 1.08 MB state envelope when json.Marshal
// wrote each as \u003c: the codecs write <, > and & as they are, so an
// encoding is the text plus the JSON syntax around it, byte for byte.
func TestEncodeDoesNotEscapeHTML(t *testing.T) {
	text := strings.Repeat("<>&", 34_000)[:100_000]
	t.Run("JSON", func(t *testing.T) {
		var c codec.JSON[created]
		b, err := c.Encode(created{Name: text})
		if err != nil {
			t.Fatal(err)
		}
		if want := len(`{"name":""}`) + len(text); len(b) != want {
			t.Errorf("encoded %d bytes of text as %d bytes, want %d", len(text), len(b), want)
		}
		back, err := c.Decode(b)
		if err != nil || back.Name != text {
			t.Errorf("round trip: %d bytes of name, %v", len(back.Name), err)
		}
	})
	t.Run("Union", func(t *testing.T) {
		u := newUnion(t)
		b, err := u.Encode(&created{Name: text})
		if err != nil {
			t.Fatal(err)
		}
		if want := len(`{"type":"Created","name":""}`) + len(text); len(b) != want {
			t.Errorf("encoded %d bytes of text as %d bytes, want %d", len(text), len(b), want)
		}
		back, err := u.Decode(b)
		if err != nil || !reflect.DeepEqual(back, &created{Name: text}) {
			t.Errorf("round trip: %v", err)
		}
	})
	t.Run("UnionName", func(t *testing.T) {
		u := codec.NewUnion[event]().MustRegister("<Created&>", func() event { return &created{} })
		b, err := u.Encode(&created{Name: "a"})
		if err != nil {
			t.Fatal(err)
		}
		if want := `{"type":"<Created&>","name":"a"}`; string(b) != want {
			t.Errorf("Encode = %s, want %s", b, want)
		}
		back, err := u.Decode(b)
		if err != nil || !reflect.DeepEqual(back, &created{Name: "a"}) {
			t.Errorf("Decode(%s) = %#v, %v", b, back, err)
		}
	})
	t.Run("NoTrailingNewline", func(t *testing.T) {
		b, err := codec.JSON[[]string]{}.Encode([]string{"<"})
		if err != nil || !bytes.Equal(b, []byte(`["<"]`)) {
			t.Errorf("Encode = %q, %v", b, err)
		}
	})
}

// {"type":"A","Type":"B"} decoded as A, and the same object with a space
// after the brace as B: the fast path took the first member, encoding/json
// the last of the keys it matches case-insensitively. An event (or command)
// with more than one top-level "type" member is refused, whichever path reads
// it; nested objects keep their own "type" members.
func TestUnionDecodeRefusesDuplicateType(t *testing.T) {
	u := newUnion(t)
	for _, in := range []string{
		`{"type":"Created","Type":"Renamed"}`,
		`{ "type":"Created","Type":"Renamed"}`,
		`{"type":"Created","type":"Created"}`,
		`{"type":"Created","TYPE":"Renamed","name":"a"}`,
		`{"type":"Created","typ\u0065":"Renamed"}`,
		`{"type":"Created","\u0074\u0079\u0070\u0065":"Created"}`,
		`{"name":"a","Type":"Created","meta":{},"type":"Created"}`,
		`{"type":"Created","type":null}`,
	} {
		_, err := u.Decode([]byte(in))
		var de *codec.DecodeError
		if !errors.As(err, &de) || !errors.Is(err, codec.ErrDecode) || !errors.Is(err, codec.ErrDuplicateType) {
			t.Errorf("Decode(%s) = %v, want a *DecodeError wrapping ErrDecode and ErrDuplicateType", in, err)
		}
	}
	for in, want := range map[string]event{
		`{"type":"Renamed","meta":{"type":"Created"},"from":"x"}`:               &renamed{From: "x"},
		`{"type":"Renamed","from":"x","to":[{"type":"a"},{"Type":"b"}]}`:        nil, // to is a string: a decode error, but not a duplicate
		`{"Type":"Renamed","from":"type","to":"TYPE"}`:                          &renamed{From: "type", To: "TYPE"},
		`{"typ\u0065":"Created","name":"type"}`:                                 &created{Name: "type"},
		`{"type":"Created","name":"a","types":"b","typ":"c","type_":"d","e":1}`: &created{Name: "a"},
	} {
		got, err := u.Decode([]byte(in))
		if errors.Is(err, codec.ErrDuplicateType) || want != nil && (err != nil || !reflect.DeepEqual(got, want)) {
			t.Errorf("Decode(%s) = %#v, %v; want %#v", in, got, err, want)
		}
	}
}

type tagged struct {
	Tag string `json:"TYPE,omitempty"`
}

func (*tagged) isEvent() {}

// A member with a "type" member of its own would be written with two, which
// Decode refuses: Encode says so instead of writing an undecodable event.
func TestUnionEncodeRefusesAMemberWithItsOwnType(t *testing.T) {
	u := codec.NewUnion[event]().MustRegister("Tagged", func() event { return &tagged{} })
	if b, err := u.Encode(&tagged{Tag: "x"}); err == nil {
		t.Errorf("Encode = %s, want an error", b)
	}
	if b, err := u.Encode(&tagged{}); err != nil || string(b) != `{"type":"Tagged"}` {
		t.Errorf("Encode = %s, %v; want the discriminator alone", b, err)
	}
}

// encoding/json decodes bytes that are not UTF-8 as U+FFFD: the event stored
// in the topic and the value folded from it would disagree. Both JSON codecs
// refuse such input; the same text as valid UTF-8 decodes.
func TestDecodeRefusesInvalidUTF8(t *testing.T) {
	u := newUnion(t)
	for _, in := range []string{
		"{\"type\":\"Created\",\"name\":\"a\xffb\"}",
		"{\"type\":\"Created\",\"name\":\"\xed\xa0\x80\"}", // an encoded surrogate
		"{\"type\":\"Created\",\"name\":\"\xc3\"}",         // cut short
		"{\"type\":\"Created\",\"n\xffame\":\"a\"}",
		"\xef\xbb\xbf{\"type\":\"Created\"}" + "\xff",
	} {
		_, err := u.Decode([]byte(in))
		var de *codec.DecodeError
		if !errors.As(err, &de) || !errors.Is(err, codec.ErrDecode) || !errors.Is(err, codec.ErrInvalidUTF8) {
			t.Errorf("Union.Decode(%q) = %v, want ErrInvalidUTF8", in, err)
		}
		if _, err := (codec.JSON[map[string]any]{}).Decode([]byte(in)); !errors.Is(err, codec.ErrInvalidUTF8) || !errors.Is(err, codec.ErrDecode) {
			t.Errorf("JSON.Decode(%q) = %v, want ErrInvalidUTF8", in, err)
		}
	}
	in := `{"type":"Created","name":"a\u00ffb é"}`
	if v, err := u.Decode([]byte(in)); err != nil || !reflect.DeepEqual(v, &created{Name: "a\u00ffb é"}) {
		t.Errorf("Union.Decode(%s) = %#v, %v", in, v, err)
	}
	if err := u.Register("Bad\xff", func() event { return &tagged{} }); err == nil {
		t.Error("a member name that is not UTF-8 was registered")
	}
}
