package codec

import (
	"encoding/json"
	"testing"
)

// FuzzLeadingTypeAgreesWithTopLevelType: whenever Decode's fast path takes
// an input that is JSON, the scan of the top level finds the same single
// "type" member. (For input that is not JSON both answers end in the syntax
// error: json.Unmarshal refuses it.)
func FuzzLeadingTypeAgreesWithTopLevelType(f *testing.F) {
	for _, s := range []string{
		`{"type":"Created","name":"a"}`,
		`{"type":"Created","name":"a","type":"Renamed"}`,
		`{"type":"Created","Type":"Renamed"}`,
		`{"type":"Created","TYPE":"Renamed"}`,
		`{"type":"Created","typ\u0065":"Renamed"}`,
		`{"type":"Created","meta":{"type":"Renamed"}}`,
		`{"type":"Created","name":"recipe","to":"TYPE"}`,
		`{"type":"Cr\u0065ated"}`,
		`{"type":"Created","name":"a\"type\":\"b"}`,
		`{"type":"Created","n":[1,{"a":"}"}],"m":"\\"}`,
		`{"type":"Created"} {"type":"Renamed"}`,
		`{"type":"<&>","name":"<>&"}`,
		"{\"type\":\"Created\",\"name\":\"\xff\"}",
		`{"type":"Created","n":123456789012345678901234567890}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		name, ok := leadingType(data)
		if !ok || !json.Valid(data) {
			return
		}
		scanned, err := topLevelType(data)
		if err != nil || scanned != name {
			t.Fatalf("leadingType(%q) = %q; topLevelType = %q, %v", data, name, scanned, err)
		}
	})
}
