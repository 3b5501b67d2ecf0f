package processor

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	folded      *prometheus.CounterVec
	skipped     *prometheus.CounterVec
	evolveSkip  *prometheus.CounterVec
	deadLetters *prometheus.CounterVec
	foldSeconds *prometheus.HistogramVec
	rebalances  *prometheus.CounterVec
	cmdRejected *prometheus.CounterVec
	oversized   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		folded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventfold_processor_events_folded_total",
			Help: "Events applied to state by Evolve.",
		}, []string{"entity", "partition"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventfold_processor_events_redelivered_total",
			Help: "Redelivered events (offset already applied) that were not applied again.",
		}, []string{"entity"}),
		evolveSkip: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventfold_processor_events_skipped_total",
			Help: "Events Evolve skipped on purpose (entity.ErrSkip): a projection's duplicate inputs.",
		}, []string{"entity"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventfold_processor_dead_letters_total",
			Help: "Events sent to the dead-letter topic, by reason.",
		}, []string{"entity", "reason"}),
		foldSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "eventfold_processor_fold_seconds",
			Help:    "Time to decode, evolve and store one event.",
			Buckets: prometheus.ExponentialBuckets(1e-6, 4, 10),
		}, []string{"entity"}),
		rebalances: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventfold_processor_rebalances_total",
			Help: "Partition assignments received by this node.",
		}, []string{"entity"}),
		cmdRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventfold_processor_command_events_rejected_total",
			Help: "Events of commands not applied by the fold rule (decided on a stale version, or out of their batch).",
		}, []string{"entity"}),
		oversized: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventfold_processor_envelopes_oversized_total",
			Help: "Envelopes over the record limit that were not written (the size check before it should make this 0).",
		}, []string{"entity"}),
	}
	for _, c := range []prometheus.Collector{m.folded, m.skipped, m.evolveSkip, m.deadLetters, m.foldSeconds, m.rebalances, m.cmdRejected, m.oversized} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("processor: register metrics: %w", err)
		}
	}
	return m, nil
}
