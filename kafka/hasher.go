package kafka

import (
	"fmt"
	"hash"
	"hash/fnv"
)

// Partitioner names the key hash that assigns keys to partitions. Producers,
// goka and the query layer must all agree on it.
type Partitioner string

const (
	// FNV1a is sarama's and goka's default: abs(int32(fnv1a(key))) mod n.
	FNV1a Partitioner = "fnv1a"
	// Murmur2 is the Java client's default: (murmur2(key) & 0x7fffffff) mod n.
	Murmur2 Partitioner = "murmur2"
)

// ParsePartitioner accepts "fnv1a" (or "") and "murmur2".
func ParsePartitioner(s string) (Partitioner, error) {
	switch Partitioner(s) {
	case "", FNV1a:
		return FNV1a, nil
	case Murmur2:
		return Murmur2, nil
	}
	return "", fmt.Errorf("kafka: unknown partitioner %q (want fnv1a or murmur2)", s)
}

// Hasher returns the hash constructor for goka (WithHasher) and sarama
// (NewCustomHashPartitioner).
func (p Partitioner) Hasher() func() hash.Hash32 {
	if p == Murmur2 {
		return func() hash.Hash32 { return new(murmur2) }
	}
	return fnv.New32a
}

// Partition returns the partition of key among n, exactly as sarama's
// hash partitioner (NewCustomHashPartitioner) computes it, so it agrees with
// where the record was really written. n must be positive: callers check
// the partition count first; for n <= 0 (no count known) it returns 0
// rather than dividing by zero.
func (p Partitioner) Partition(key string, n int32) int32 {
	if n <= 0 {
		return 0
	}
	h := p.Hasher()()
	_, _ = h.Write([]byte(key))
	part := int32(h.Sum32()) % n
	if part < 0 {
		part = -part
	}
	return part
}

// murmur2 is Kafka's Java partitioner hash. Sum32 returns the value already
// masked to 31 bits (Java's toPositive), so the abs-and-mod arithmetic of
// sarama and goka yields the Java client's partition.
type murmur2 struct{ buf []byte }

func (m *murmur2) Write(p []byte) (int, error) { m.buf = append(m.buf, p...); return len(p), nil }
func (m *murmur2) Sum(b []byte) []byte {
	s := m.Sum32()
	return append(b, byte(s>>24), byte(s>>16), byte(s>>8), byte(s))
}
func (m *murmur2) Reset()         { m.buf = m.buf[:0] }
func (m *murmur2) Size() int      { return 4 }
func (m *murmur2) BlockSize() int { return 4 }
func (m *murmur2) Sum32() uint32  { return uint32(Murmur2Hash(m.buf)) & 0x7fffffff }

// Murmur2Hash is org.apache.kafka.common.utils.Utils.murmur2.
func Murmur2Hash(data []byte) int32 {
	const (
		seed uint32 = 0x9747b28c
		m    uint32 = 0x5bd1e995
		r           = 24
	)
	length := len(data)
	h := seed ^ uint32(length)
	for i := 0; i+4 <= length; i += 4 {
		k := uint32(data[i]) | uint32(data[i+1])<<8 | uint32(data[i+2])<<16 | uint32(data[i+3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	tail := length &^ 3
	switch length % 4 {
	case 3:
		h ^= uint32(data[tail+2]) << 16
		fallthrough
	case 2:
		h ^= uint32(data[tail+1]) << 8
		fallthrough
	case 1:
		h ^= uint32(data[tail])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return int32(h)
}
