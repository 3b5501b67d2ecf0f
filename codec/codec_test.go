package codec_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

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

func newUnion(t *testing.T) *codec.Union[event] {
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

// Decode reads the type without a separate pass when the event starts with
// it; whatever the input, the answer is the one of the general path: the
// last "type" member decides (encoding/json), trailing data is an error.
func TestUnionDecodeAgreesWithTheGeneralPath(t *testing.T) {
	u := newUnion(t)
	general := func(data []byte) (event, error) {
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
	for _, in := range []string{
		`{"type":"Created","name":"a"}`,
		`{"type":"Created","name":"a","type":"Renamed","to":"b"}`,
		`{"type":"Renamed","to":"type"}`,
		`{"type":"Renamed","meta":{"type":"Created"},"from":"x"}`,
		`{"type":"Cr\u0065ated","name":"a"}`,
		`{ "type" : "Created", "name": "a" }`,
		`{"name":"a","type":"Created"}`,
		`{"type":"Created","name":"a"} trailing`,
		`{"type":"Created","name":}`,
		`{"type":"Created"`,
		`{"type":"Deleted"}`,
		`{"type":"Ping"}`,
		`{"type":null}`,
	} {
		want, wantErr := general([]byte(in))
		got, err := u.Decode([]byte(in))
		if (err != nil) != (wantErr != nil) || err == nil && !reflect.DeepEqual(got, want) {
			t.Errorf("Decode(%s) = %#v, %v; the general path: %#v, %v", in, got, err, want, wantErr)
		}
	}
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
