package codec_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/eventfold/eventfold/codec"
)

// Three shapes of one event: v1 had a single name, v2 split it, v3 (the
// member) adds a currency.
type shape interface{ shape() }

type personV1 struct {
	Name string `json:"name"`
}

type personV2 struct {
	First string `json:"first"`
	Last  string `json:"last"`
}

type Person struct {
	First    string `json:"first"`
	Last     string `json:"last"`
	Currency string `json:"currency"`
}

func (*Person) shape() {}

type Other struct {
	V int `json:"n"`
}

func (*Other) shape() {}

func versioned(t *testing.T) *codec.Union[shape] {
	t.Helper()
	u := codec.NewUnion[shape]().MustRegister("Person", func() shape { return &Person{} }).MustRegister("Other", func() shape { return &Other{} })
	u.MustUpcast("Person", func() any { return &personV1{} }, func(old any) (any, error) {
		first, last, _ := strings.Cut(old.(*personV1).Name, " ")
		if first == "" {
			return nil, errors.New("no name")
		}
		return &personV2{First: first, Last: last}, nil
	})
	u.MustUpcast("Person", func() any { return &personV2{} }, func(old any) (any, error) {
		p := old.(*personV2)
		return &Person{First: p.First, Last: p.Last, Currency: "EUR"}, nil
	})
	return u
}

func TestUpcastBringsEveryVersionToTheNewest(t *testing.T) {
	u := versioned(t)
	if u.Version("Person") != 3 || u.Version("Other") != 1 {
		t.Fatalf("versions %d, %d", u.Version("Person"), u.Version("Other"))
	}
	want := Person{First: "Ada", Last: "Lovelace", Currency: "EUR"}
	for _, in := range []string{
		`{"type":"Person","name":"Ada Lovelace"}`,       // version 1: no "v"
		`{"type":"Person","v":1,"name":"Ada Lovelace"}`, // version 1, said
		`{"name":"Ada Lovelace","V":1,"type":"Person"}`, // any order, "V" as encoding/json matches it
		`{"type":"Person","v":2,"first":"Ada","last":"Lovelace"}`,
		`{"type":"Person","v":3,"first":"Ada","last":"Lovelace","currency":"EUR"}`,
	} {
		got, err := u.Decode([]byte(in))
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if p, ok := got.(*Person); !ok || *p != want {
			t.Errorf("%s decoded to %#v", in, got)
		}
	}
	b, err := u.Encode(&want)
	if err != nil || string(b) != `{"type":"Person","v":3,"first":"Ada","last":"Lovelace","currency":"EUR"}` {
		t.Fatalf("Encode: %s, %v", b, err)
	}
	// A member without versions writes no "v" and ignores one.
	if b, _ := u.Encode(&Other{V: 1}); string(b) != `{"type":"Other","n":1}` {
		t.Errorf("Encode(Other) = %s", b)
	}
	if o, err := u.Decode([]byte(`{"type":"Other","v":9,"n":2}`)); err != nil || o.(*Other).V != 2 {
		t.Errorf("Other with a v: %v, %v", o, err)
	}
}

func TestUpcastRefusesWhatItCannotBringUp(t *testing.T) {
	u := versioned(t)
	for _, in := range []string{
		`{"type":"Person","v":0,"name":"x y"}`,
		`{"type":"Person","v":4,"first":"x"}`,
		`{"type":"Person","v":"2","first":"x"}`,
		`{"type":"Person","v":2.5,"first":"x"}`,
		`{"type":"Person","v":1,"v":2,"name":"x y"}`,
		`{"type":"Person","v":1,"V":1,"name":"x y"}`,
		`{"type":"Person","name":""}`, // the upcaster fails
		`{"type":"Person","v":1,"name":42}`,
	} {
		if _, err := u.Decode([]byte(in)); !errors.Is(err, codec.ErrDecode) {
			t.Errorf("%s: %v, want a decode error", in, err)
		}
	}
}

func TestUpcastRegistration(t *testing.T) {
	u := codec.NewUnion[shape]()
	if err := u.Upcast("Person", func() any { return &personV1{} }, func(a any) (any, error) { return a, nil }); err == nil {
		t.Error("Upcast before Register succeeded")
	}
	u.MustRegister("Person", func() shape { return &Person{} })
	if err := u.Upcast("Person", func() any { return personV1{} }, func(a any) (any, error) { return a, nil }); err == nil {
		t.Error("a non-pointer version succeeded")
	}
	if err := u.Upcast("Person", nil, nil); err == nil {
		t.Error("nil functions succeeded")
	}
	// Upcasters that do not end in the member's type: a decode error, not a
	// panic or a wrong type.
	u.MustUpcast("Person", func() any { return &personV1{} }, func(a any) (any, error) { return a, nil })
	if _, err := u.Decode([]byte(`{"type":"Person","name":"a b"}`)); !errors.Is(err, codec.ErrDecode) {
		t.Errorf("upcasters ending in the wrong type: %v", err)
	}
}
