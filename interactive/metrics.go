package interactive

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	requests *prometheus.HistogramVec
	forwards *prometheus.CounterVec
	stale    prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
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
		stale: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eventfold_http_stale_answers_total",
			Help: "Reads answered from a standby copy because no owner answered.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.forwards, m.stale)
	}
	return m
}
