package view

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	lagDesc = prometheus.NewDesc("eventfold_standby_lag",
		"Changelog records a standby copy (hot standby on a processor, or a replica) is behind.", []string{"entity", "partition"}, nil)
	recoveredDesc = prometheus.NewDesc("eventfold_view_partitions_recovered",
		"Partitions of the entity type whose replica copy has recovered.", []string{"entity"}, nil)
)

// collector reports the replica's lag on every scrape.
type collector struct{ v *View }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- lagDesc
	ch <- recoveredDesc
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	for _, name := range c.v.order {
		ch <- prometheus.MustNewConstMetric(recoveredDesc, prometheus.GaugeValue, float64(len(c.v.RecoveredPartitions(name))), name)
		for part, lag := range c.v.Lag(name) {
			if lag >= 0 {
				ch <- prometheus.MustNewConstMetric(lagDesc, prometheus.GaugeValue, float64(lag), name, strconv.Itoa(int(part)))
			}
		}
	}
}
