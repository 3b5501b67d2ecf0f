package codec_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/eventfold/eventfold/codec"
)

// rich is a member with the field kinds events carry: numbers, a pointer,
// a slice, a map of anything, a nested struct.
type rich struct {
	Name  string         `json:"name"`
	N     int64          `json:"n"`
	U     uint8          `json:"u,omitempty"`
	F     float64        `json:"f"`
	Ptr   *string        `json:"ptr"`
	Tags  []string       `json:"tags"`
	Meta  map[string]any `json:"meta"`
	Inner struct {
		Type string `json:"type"` // nested "type" members are the member's own
		On   bool   `json:"on"`
	} `json:"inner"`
}

func (*rich) isEvent() {}

func newFuzzUnion(tb testing.TB) *codec.Union[event] {
	u := newUnion(tb)
	if err := u.Register("Rich", func() event { return &rich{} }); err != nil {
		tb.Fatal(err)
	}
	return u
}

// fuzzSeeds are the inputs every target starts from: the agreement cases
// (duplicate and case-variant "type", escapes, nested "type", trailing data,
// invalid UTF-8) and more.
func fuzzSeeds() []string {
	seeds := append([]string(nil), agreementCases...)
	return append(seeds,
		`{"type":"Rich","name":"<a href=\"x\">&amp;</a>","tags":["<",">","&"]}`,
		`{"type":"Rich","name":"\u003c\u0026\u003e \u2028\u2029"}`,
		`{"type":"Rich","n":123456789012345678901234567890}`,
		`{"type":"Rich","n":9223372036854775807,"u":255,"f":1.7976931348623157e308}`,
		`{"type":"Rich","f":1e400}`,
		`{"type":"Rich","f":-0,"u":256}`,
		`{"type":"Rich","meta":{"big":1e308,"huge":123456789012345678901234567890,"neg":-0.0,"type":"x","Type":{"type":1}}}`,
		`{"type":"Rich","inner":{"type":"Created","on":true},"ptr":null,"tags":null,"meta":{}}`,
		`{"type":"Rich","NAME":"x","Tags":[],"ptr":"p","Inner":{"TYPE":"y"}}`,
		`{"type":"Rich","name":"a","name":"b","meta":{"k":1,"k":2}}`,
		"{\"type\":\"Rich\",\"name\":\"\xf0\x9f\x98\x80 ok\"}",
		"{\"type\":\"Rich\",\"name\":\"\xf0\x9f\x98\"}",
		`{"type":"Rich","meta":{"a":[[[[[[[[[[[]]]]]]]]]]]}}`,
		"{\"type\":\"Rich\",\t\"name\"\n:\r\"a\" }  \n",
		`{"type":"Rich","name":"\"type\":\"Created\""}`,
		`{"type":"Rich","name":"\\","n":1}`,
		`{"type":"Rich","n":1}}`,
		`{"type":"Rich","n":1]`,
		`{"type":"Rich","n":"1"}`,
		`{"type":"Rich","n":01}`,
		`{"type":"Rich",,"n":1}`,
		`{"type":"Rich" "n":1}`,
		`null`, `"type"`, `{}`, `{"type":""}`, `{"type":{}}`, `{"type":["Created"]}`,
	)
}

// FuzzUnionDecode: Decode never panics, accepts only valid UTF-8, and
// whatever it accepts re-encodes to bytes that decode to an equal value.
// (Bytes to bytes is not a property: key order, whitespace, escapes, case
// variants of field names, duplicate and unknown members and number
// spellings are all normalised by the first decode. For the same reason a
// member with a json.RawMessage field would not keep value equality: the
// field keeps the input's spelling and Encode compacts it; the members here
// have none.)
func FuzzUnionDecode(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add([]byte(s))
	}
	u := newFuzzUnion(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := u.Decode(data)
		if err != nil {
			if !errors.Is(err, codec.ErrDecode) {
				t.Fatalf("Decode(%q) = %v, which does not wrap ErrDecode", data, err)
			}
			return
		}
		if !utf8.Valid(data) {
			t.Fatalf("Decode(%q) accepted invalid UTF-8", data)
		}
		b, err := u.Encode(v)
		if err != nil {
			t.Fatalf("Decode(%q) = %#v, which does not encode: %v", data, v, err)
		}
		back, err := u.Decode(b)
		if err != nil {
			t.Fatalf("Decode(%q) = %#v, encoded as %s, which does not decode: %v", data, v, b, err)
		}
		if !reflect.DeepEqual(back, v) {
			t.Fatalf("Decode(%q) = %#v, encoded as %s, decoded as %#v", data, v, b, back)
		}
	})
}

// FuzzJSONDecode is FuzzUnionDecode for the state codec.
func FuzzJSONDecode(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add([]byte(s))
	}
	var c codec.JSON[rich]
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := c.Decode(data)
		if err != nil {
			if !errors.Is(err, codec.ErrDecode) {
				t.Fatalf("Decode(%q) = %v, which does not wrap ErrDecode", data, err)
			}
			return
		}
		if !utf8.Valid(data) {
			t.Fatalf("Decode(%q) accepted invalid UTF-8", data)
		}
		b, err := c.Encode(v)
		if err != nil {
			t.Fatalf("Decode(%q) = %#v, which does not encode: %v", data, v, err)
		}
		if strings.ContainsAny(v.Name, "<>&") && !strings.ContainsAny(string(b), "<>&") {
			t.Fatalf("Encode(%#v) = %s: HTML characters escaped", v, b)
		}
		back, err := c.Decode(b)
		if err != nil || !reflect.DeepEqual(back, v) {
			t.Fatalf("Decode(%q) = %#v, encoded as %s, decoded as %#v, %v", data, v, b, back, err)
		}
	})
}

// FuzzUnionDecodeAgreesWithTheGeneralPath: Decode's type scanner and the
// reference built from encoding/json alone accept the same inputs and
// decode them to the same values.
func FuzzUnionDecodeAgreesWithTheGeneralPath(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add([]byte(s))
	}
	u := newUnion(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		want, wantErr := generalDecode(data)
		got, err := u.Decode(data)
		if (err != nil) != (wantErr != nil) || err == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("Decode(%q) = %#v, %v; the general path: %#v, %v", data, got, err, want, wantErr)
		}
	})
}
