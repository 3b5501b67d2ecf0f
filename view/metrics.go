package view

import (
	"github.com/eventfold/eventfold/table"
	"github.com/prometheus/client_golang/prometheus"
)

var recoveredDesc = prometheus.NewDesc("eventfold_view_partitions_recovered",
	"Partitions of the entity type whose replica copy has recovered.", []string{"entity"}, nil)

// collector reports the replica's lag on every scrape.
type collector struct{ v *View }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- table.StandbyLagDesc
	ch <- recoveredDesc
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	for _, name := range c.v.order {
		ch <- prometheus.MustNewConstMetric(recoveredDesc, prometheus.GaugeValue, float64(len(c.v.RecoveredPartitions(name))), name)
		c.v.byName[name].set.CollectStandbyLag(ch, name, func(int32) bool { return true })
	}
}
