package main

import (
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"

	"github.com/eventfold/eventfold/bench/gen"
	"github.com/eventfold/eventfold/kafka"
)

// broker wraps the admin side the driver needs.
type broker struct {
	brokers []string
	client  sarama.Client
	admin   sarama.ClusterAdmin
}

func newBroker(brokers []string) (*broker, error) {
	cfg := kafka.NewConfig()
	cfg.ClientID = "bench-driver"
	c, err := sarama.NewClient(brokers, cfg)
	if err != nil {
		return nil, err
	}
	a, err := sarama.NewClusterAdminFromClient(c)
	if err != nil {
		c.Close()
		return nil, err
	}
	return &broker{brokers: brokers, client: c, admin: a}, nil
}

func (b *broker) close() { b.admin.Close() }

// createEventsTopic creates the events topic as eventfold wants it (kept
// forever) and waits until every partition has a leader.
func (b *broker) createEventsTopic(name string, partitions int32) error {
	minus1 := "-1"
	err := b.admin.CreateTopic(name, &sarama.TopicDetail{
		NumPartitions: partitions, ReplicationFactor: 1,
		ConfigEntries: map[string]*string{"retention.ms": &minus1, "retention.bytes": &minus1},
	}, false)
	if err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_ = b.client.RefreshMetadata(name)
		ps, err := b.client.Partitions(name)
		ok := err == nil && int32(len(ps)) == partitions
		for _, p := range ps {
			if l, err := b.client.Leader(name, p); err != nil || l == nil {
				ok = false
			}
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("topic %s: no leaders after 30s (%v)", name, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (b *broker) partitions(topic string) ([]int32, error) {
	_ = b.client.RefreshMetadata(topic)
	return b.client.Partitions(topic)
}

// offsets returns the oldest and newest offset of every partition.
func (b *broker) offsets(topic string) (oldest, newest map[int32]int64, err error) {
	ps, err := b.partitions(topic)
	if err != nil {
		return nil, nil, err
	}
	oldest, newest = map[int32]int64{}, map[int32]int64{}
	for _, p := range ps {
		if oldest[p], err = b.client.GetOffset(topic, p, sarama.OffsetOldest); err != nil {
			return nil, nil, err
		}
		if newest[p], err = b.client.GetOffset(topic, p, sarama.OffsetNewest); err != nil {
			return nil, nil, err
		}
	}
	return oldest, newest, nil
}

// records is the number of records in topic (newest - oldest, summed).
func (b *broker) records(topic string) (int64, error) {
	o, n, err := b.offsets(topic)
	if err != nil {
		return 0, err
	}
	var sum int64
	for p := range n {
		sum += n[p] - o[p]
	}
	return sum, nil
}

// lag is how many records of topic group has not committed.
func (b *broker) lag(group, topic string) (int64, error) {
	o, n, err := b.offsets(topic)
	if err != nil {
		return 0, err
	}
	ps := make([]int32, 0, len(n))
	for p := range n {
		ps = append(ps, p)
	}
	resp, err := b.admin.ListConsumerGroupOffsets(group, map[string][]int32{topic: ps})
	if err != nil {
		return 0, err
	}
	var lag int64
	for _, p := range ps {
		c := o[p]
		if blk := resp.GetBlock(topic, p); blk != nil && blk.Offset >= 0 {
			c = blk.Offset
		}
		lag += n[p] - c
	}
	return lag, nil
}

// warmUp makes the broker ready for the contenders alike: it creates
// __consumer_offsets (the first group coordinator lookup does) and reads the
// whole events topic once (page cache, the broker's fetch path), checking
// that it holds n records.
func (b *broker) warmUp(topic string, n int64) (time.Duration, error) {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		_, err := b.client.Coordinator("bench-warmup")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("no group coordinator: %w", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	o, nw, err := b.offsets(topic)
	if err != nil {
		return 0, err
	}
	cons, err := sarama.NewConsumerFromClient(b.client)
	if err != nil {
		return 0, err
	}
	defer cons.Close()
	start := time.Now()
	var total atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, len(nw))
	for p, end := range nw {
		if end <= o[p] {
			continue
		}
		pc, err := cons.ConsumePartition(topic, p, o[p])
		if err != nil {
			return 0, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer pc.Close()
			for {
				select {
				case m := <-pc.Messages():
					total.Add(1)
					if m.Offset >= end-1 {
						return
					}
				case err := <-pc.Errors():
					errs <- err
					return
				case <-time.After(time.Minute):
					errs <- fmt.Errorf("partition %d: nothing for a minute", p)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return 0, err
	}
	if got := total.Load(); got != n {
		return 0, fmt.Errorf("read %d records back from %s, want %d", got, topic, n)
	}
	return time.Since(start), nil
}

// produce loads recs into topic with an async producer (acks=all, snappy,
// sarama's FNV-1a hash partitioner: the key hash goka and eventfold use).
func produce(brokers []string, topic string, recs []gen.Record) (time.Duration, error) {
	cfg := sarama.NewConfig()
	cfg.Version = kafka.DefaultVersion
	cfg.ClientID = "bench-loader"
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Producer.Return.Errors = true
	cfg.Producer.Compression = sarama.CompressionSnappy
	cfg.Producer.Flush.Bytes = 1 << 20
	cfg.Producer.Flush.Frequency = 5 * time.Millisecond
	cfg.Producer.MaxMessageBytes = 1 << 20
	cfg.Producer.Partitioner = sarama.NewHashPartitioner
	cfg.Net.MaxOpenRequests = 5
	cfg.ChannelBufferSize = 1 << 14
	p, err := sarama.NewAsyncProducer(brokers, cfg)
	if err != nil {
		return 0, err
	}
	var acked atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for range p.Successes() {
			acked.Add(1)
		}
	}()
	go func() {
		defer wg.Done()
		for e := range p.Errors() {
			firstErr.CompareAndSwap(nil, e.Err.Error())
		}
	}()
	start := time.Now()
	for i := range recs {
		p.Input() <- &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(recs[i].Key), Value: sarama.ByteEncoder(recs[i].Value)}
	}
	p.AsyncClose()
	wg.Wait()
	d := time.Since(start)
	if e := firstErr.Load(); e != nil {
		return d, fmt.Errorf("produce: %s (%d of %d acknowledged)", e, acked.Load(), len(recs))
	}
	if n := acked.Load(); n != int64(len(recs)) {
		return d, fmt.Errorf("produce: %d of %d acknowledged", n, len(recs))
	}
	return d, nil
}

func itoa(i int) string { return strconv.Itoa(i) }
