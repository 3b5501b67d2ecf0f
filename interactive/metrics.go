package interactive

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	requests *prometheus.HistogramVec
	forwards *prometheus.CounterVec
	stale    *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "eventfold_http_request_seconds",
			Help:    "HTTP request latency by route and status code.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "code"}),
		forwards: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventfold_http_forwards_total",
			Help: "Reads forwarded to the owning node, by result (ok, retry, error).",
		}, []string{"result"}),
		stale: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventfold_http_stale_answers_total",
			Help: "Reads answered from a standby copy, by where the copy is: here (this node's copy) or " +
				"relayed (another node's stale answer passed on). Sum served=\"here\" over nodes for a cluster total.",
		}, []string{"served"}),
	}
	// Series exist from the start, so rate() and alerts see zeros, not gaps.
	for _, r := range []string{"ok", "retry", "error"} {
		m.forwards.WithLabelValues(r)
	}
	for _, s := range []string{"here", "relayed"} {
		m.stale.WithLabelValues(s)
	}
	for _, c := range []prometheus.Collector{m.requests, m.forwards, m.stale} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("interactive: register metrics: %w", err)
		}
	}
	return m, nil
}
