package table

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// StandbyLagDesc is eventfold_standby_lag, declared once: a processor's
// hot-standby partitions and a replica's copies report it alike.
var StandbyLagDesc = prometheus.NewDesc("eventfold_standby_lag",
	"Changelog records a standby copy (hot standby on a processor, or a replica) is behind.", []string{"entity", "partition"}, nil)

// CollectStandbyLag sends the lag of each recovered partition that standby
// says is a standby copy (the owner's own table lags by definition 0).
func (s *Set) CollectStandbyLag(ch chan<- prometheus.Metric, entity string, standby func(partition int32) bool) {
	for _, part := range s.Recovered() {
		if lag := s.Lag(part); lag >= 0 && standby(part) {
			ch <- prometheus.MustNewConstMetric(StandbyLagDesc, prometheus.GaugeValue, float64(lag), entity, strconv.Itoa(int(part)))
		}
	}
}
