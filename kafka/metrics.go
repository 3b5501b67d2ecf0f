package kafka

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// ProducerMetrics counts the records a node's producers wrote, by topic and
// result: the write side's error rate (appends, command events, history
// segments), which HTTP status codes alone blur with validation failures.
type ProducerMetrics struct {
	records *prometheus.CounterVec
}

// Produce results, the values of the result label.
const (
	ResultOK    = "ok"
	ResultError = "error"
)

// NewProducerMetrics registers eventfold_produced_records_total on reg. A
// second call with the same registry returns the collector registered first,
// so every producer of a node shares one series per topic.
func NewProducerMetrics(reg prometheus.Registerer) (*ProducerMetrics, error) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "eventfold_produced_records_total",
		Help: "Records produced by this node (appends, command events, history segments), by topic and result (ok: acknowledged; error: failed after sarama's retries).",
	}, []string{"topic", "result"})
	if reg != nil {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, fmt.Errorf("kafka: producer metrics: %w", err)
			}
			existing, ok := are.ExistingCollector.(*prometheus.CounterVec)
			if !ok {
				return nil, fmt.Errorf("kafka: producer metrics: %w", err)
			}
			c = existing
		}
	}
	return &ProducerMetrics{records: c}, nil
}

// Watch makes the series of topics exist at zero, so that rates and alerts
// see them before the first write.
func (m *ProducerMetrics) Watch(topics ...string) {
	for _, t := range topics {
		m.records.WithLabelValues(t, ResultOK)
		m.records.WithLabelValues(t, ResultError)
	}
}

func (m *ProducerMetrics) observe(topic string, err error) {
	if m == nil {
		return
	}
	res := ResultOK
	if err != nil {
		res = ResultError
	}
	m.records.WithLabelValues(topic, res).Inc()
}

// ProducerOption configures a Producer.
type ProducerOption func(*Producer)

// WithMetrics counts every record's outcome in m, whether or not its sender
// still waits for it.
func WithMetrics(m *ProducerMetrics) ProducerOption {
	return func(p *Producer) { p.metrics = m }
}

// Records is the counter of topic and result (for tests and embedders).
func (m *ProducerMetrics) Records(topic, result string) prometheus.Counter {
	return m.records.WithLabelValues(topic, result)
}
