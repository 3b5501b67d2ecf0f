package subscriber

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	deliveries  *prometheus.CounterVec // subscriber, result
	deadLetters *prometheus.CounterVec // subscriber
	lag         *prometheus.GaugeVec   // subscriber, entity, partition
	handle      *prometheus.HistogramVec
	paused      *prometheus.GaugeVec
	inFlight    *prometheus.GaugeVec
}

// Results of an attempt on eventfold_subscriber_deliveries_total.
const (
	resultDelivered    = "delivered"
	resultRetried      = "retried"
	resultDeadLettered = "dead_lettered"
)

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventfold_subscriber_deliveries_total",
			Help: "Attempts to hand an event to a subscriber's handler, by result: delivered (the handler returned nil), retried (it failed and will be tried again), dead_lettered (it failed its last attempt).",
		}, []string{"subscriber", "result"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventfold_subscriber_dead_letters_total",
			Help: "Deliveries written to a subscriber's dead-letter topic after their last attempt.",
		}, []string{"subscriber"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "eventfold_subscriber_lag",
			Help: "Events of a partition this node delivers that are not done yet (high-water mark minus the commit point).",
		}, []string{"subscriber", "entity", "partition"}),
		handle: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "eventfold_subscriber_handle_seconds",
			Help:    "Time of one handler attempt.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
		}, []string{"subscriber"}),
		paused: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "eventfold_subscriber_paused",
			Help: "1 while a subscriber is paused.",
		}, []string{"subscriber"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "eventfold_subscriber_in_flight",
			Help: "Items (an event, or a command's events) queued for a subscriber's handlers on this node and not done yet.",
		}, []string{"subscriber"}),
	}
	for _, c := range []prometheus.Collector{m.deliveries, m.deadLetters, m.lag, m.handle, m.paused, m.inFlight} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("subscriber: register metrics: %w", err)
		}
	}
	return m, nil
}
