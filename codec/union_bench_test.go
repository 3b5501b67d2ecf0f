package codec_test

import (
	"testing"

	"github.com/eventfold/eventfold/codec"
)

// benchEvent is a ~200-byte event, the size of the bench workload's events.
const benchEvent = `{"type":"Renamed","from":"order-000042","to":"order-000043","meta":{"event_id":"order-000042-7","occurred_at":"2026-11-23T09:00:00.000Z","source":"checkout","trace_id":"0f1e2d3c4b5a69788796a5b4c3d2e1f0"}}`

// BenchmarkUnionDecode decodes it as Encode writes it: the fast path
// (go test -run '^$' -bench UnionDecode ./codec).
func BenchmarkUnionDecode(b *testing.B) { benchmarkDecode(b, benchEvent) }

// BenchmarkUnionDecodeGeneral decodes the same event with a space after the
// brace, which only the general path reads.
func BenchmarkUnionDecodeGeneral(b *testing.B) { benchmarkDecode(b, "{ "+benchEvent[1:]) }

func benchmarkDecode(b *testing.B, in string) {
	u := codec.NewUnion[event]().
		MustRegister("Created", func() event { return &created{} }).
		MustRegister("Renamed", func() event { return &renamed{} })
	data := []byte(in)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := u.Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}
