package projection

import (
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/eventfold/eventfold/kafka"
	"github.com/eventfold/eventfold/projection/progress"
)

// markEvery is how often, at most, the re-keying of one source partition
// writes progress markers while its frontier moves: the delay a
// min_source read may add, against 1/markEvery records per second per
// source partition and repartition partition.
const markEvery = 500 * time.Millisecond

// claimMarks are one claim's markers. mu serialises the claim's starts
// with its markers, so a marker is handed to the producer after every
// input it covers.
type claimMarks struct {
	mu       sync.Mutex
	frontier int64 // every batch below was handed over
	marked   int64 // the frontier the last markers said
	last     time.Time
	timer    *time.Timer
}

type marksKey struct {
	projection string
	leaving    <-chan struct{}
}

func (s *Set) marksOf(projection string, leaving <-chan struct{}) *claimMarks {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := marksKey{projection, leaving}
	cm := s.marks[k]
	if cm == nil {
		cm = &claimMarks{}
		s.marks[k] = cm
	}
	return cm
}

// advance records that the batch released at offset was handed over and
// writes markers now, or arms a timer to write them within markEvery, so
// that a partition that goes quiet is still marked. cm.mu is held.
func (s *Set) advance(sp *spec, cm *claimMarks, entityName string, partition int32, offset int64, leaving <-chan struct{}) {
	cm.frontier = offset + 1
	wait := markEvery - time.Since(cm.last)
	if wait <= 0 {
		s.writeMarks(sp, cm, entityName, partition, leaving)
		return
	}
	if cm.timer == nil {
		cm.timer = time.AfterFunc(wait, func() {
			cm.mu.Lock()
			defer cm.mu.Unlock()
			cm.timer = nil
			select {
			case <-leaving:
				s.mu.Lock()
				delete(s.marks, marksKey{sp.name, leaving})
				s.mu.Unlock()
				return
			default:
			}
			if cm.frontier > cm.marked {
				s.writeMarks(sp, cm, entityName, partition, leaving)
			}
		})
	}
}

// writeMarks hands a marker (entity/partition below cm.frontier) to the
// producer for every partition of the repartition topic. cm.mu is held.
// A lost marker only delays a min_source read until the next one.
func (s *Set) writeMarks(sp *spec, cm *claimMarks, entityName string, partition int32, leaving <-chan struct{}) {
	s.mu.Lock()
	pr, ctx, topic, part, log, broken, client := s.pr, s.ctx, s.topics[sp.name], s.partitioner, s.log, s.broken[leaving], s.client
	s.mu.Unlock()
	if pr == nil || broken || client == nil {
		return
	}
	parts, err := client.Partitions(topic)
	if err != nil {
		log.Debug("projection markers not written", slog.String("projection", sp.name), slog.Any("error", err))
		return
	}
	n := int32(len(parts))
	val, _ := json.Marshal(input[any]{Marker: &progress.Marker{Entity: entityName, Partition: partition, Offset: cm.frontier}})
	for r := range n {
		if _, err := pr.Start(ctx, kafka.Record{Topic: topic, Key: progress.Key(part, r, n), Value: val, Pinned: true, Partition: r}); err != nil {
			return
		}
	}
	cm.marked, cm.last = cm.frontier, time.Now()
}
