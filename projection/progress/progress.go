// Package progress is what the re-keying stage of a projection tells its
// fold about how far it got, and how a reader asks for it: the progress
// markers of docs/projections.md ("Progress and read-your-writes"). It
// depends on nothing but the partitioner, so the query layer can use it.
package progress

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/eventfold/eventfold/kafka"
)

// keyPrefix starts the key a partition's markers are folded under: a
// control character, so no id the API accepts can be one, and lists skip
// it.
const keyPrefix = "\x00progress/"

// IsKey reports whether key is a marker key (not a projection key).
func IsKey(key string) bool { return strings.HasPrefix(key, keyPrefix) }

// Key is the key of partition's markers in a table of n partitions: the
// first "\x00progress/<j>" that p maps to partition, so that a read of it
// goes where its markers were written.
func Key(p kafka.Partitioner, partition, n int32) string {
	for j := 0; ; j++ {
		k := keyPrefix + strconv.Itoa(j)
		if p.Partition(k, n) == partition {
			return k
		}
	}
}

// Marker says that every input of source partition Entity/Partition with
// an origin below Offset that belongs to the partition it is written to
// was written before it.
type Marker struct {
	Entity    string `json:"e"`
	Partition int32  `json:"p"`
	Offset    int64  `json:"c"`
}

// Source names a marker's source partition, the key of Progress.
func (m Marker) Source() string { return m.Entity + "/" + strconv.Itoa(int(m.Partition)) }

// Progress is, per source partition, the greatest marker offset folded in
// one partition of a projection's table.
type Progress map[string]int64

// Read returns the progress in a marker key's stored state (the
// projection table's JSON, whose "progress" member it is).
func Read(stored []byte) (Progress, error) {
	var s struct {
		Progress Progress `json:"progress"`
	}
	if err := json.Unmarshal(stored, &s); err != nil {
		return nil, fmt.Errorf("progress: %w", err)
	}
	return s.Progress, nil
}

// Passed reports whether every input of the source event at
// entity/partition/offset has been folded.
func (p Progress) Passed(entity string, partition int32, offset int64) bool {
	return p[entity+"/"+strconv.Itoa(int(partition))] > offset
}

// ParseSource parses ?min_source=<entity>:<partition>:<offset>, the
// position an append or command answer gives.
func ParseSource(s string) (entity string, partition int32, offset int64, err error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 || parts[0] == "" {
		return "", 0, 0, fmt.Errorf("min_source=%q, want <entity>:<partition>:<offset>", s)
	}
	p, err1 := strconv.ParseInt(parts[1], 10, 32)
	o, err2 := strconv.ParseInt(parts[2], 10, 64)
	if err1 != nil || err2 != nil || p < 0 || o < 0 {
		return "", 0, 0, fmt.Errorf("min_source=%q, want <entity>:<partition>:<offset> with numbers", s)
	}
	return parts[0], int32(p), o, nil
}
