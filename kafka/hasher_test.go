package kafka

import (
	"hash/fnv"
	"testing"
)

// Vectors from Kafka's UtilsTest.testMurmur2.
func TestMurmur2Vectors(t *testing.T) {
	for in, want := range map[string]int32{
		"21":                         -973932308,
		"foobar":                     -790332482,
		"a-little-bit-long-string":   -985981536,
		"a-little-bit-longer-string": -1486304829,
		"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
		"abc": 479470107,
	} {
		if got := Murmur2Hash([]byte(in)); got != want {
			t.Errorf("murmur2(%q) = %d, want %d", in, got, want)
		}
	}
}

func TestPartitionMatchesSaramaArithmetic(t *testing.T) {
	for _, key := range []string{"", "a", "order-1", "user-99999", "ключ"} {
		h := fnv.New32a()
		h.Write([]byte(key))
		p := int32(h.Sum32()) % 12
		if p < 0 {
			p = -p
		}
		if got := FNV1a.Partition(key, 12); got != p {
			t.Errorf("FNV1a.Partition(%q) = %d, want %d", key, got, p)
		}
		want := (Murmur2Hash([]byte(key)) & 0x7fffffff) % 12
		if got := Murmur2.Partition(key, 12); got != want {
			t.Errorf("Murmur2.Partition(%q) = %d, want %d", key, got, want)
		}
	}
}

// A caller that knows no partition count yet (0) gets partition 0, not a
// division by zero.
func TestPartitionWithoutPartitionsDoesNotPanic(t *testing.T) {
	for _, p := range []Partitioner{FNV1a, Murmur2} {
		for _, n := range []int32{0, -1} {
			if got := p.Partition("order-1", n); got != 0 {
				t.Errorf("%s.Partition(order-1, %d) = %d, want 0", p, n, got)
			}
		}
	}
}
