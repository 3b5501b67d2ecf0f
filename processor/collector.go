package processor

import (
	"io/fs"
	"path/filepath"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventfold/eventfold/table"
)

// collector reports live state on every scrape instead of tracking it in
// the fold's hot path.
type collector struct {
	p         *Processor
	assigned  *prometheus.Desc
	recovered *prometheus.Desc
	lag       *prometheus.Desc
	tableSize *prometheus.Desc
}

func newCollector(p *Processor) *collector {
	return &collector{
		p: p,
		assigned: prometheus.NewDesc("eventfold_processor_partitions_assigned",
			"Partitions of the entity type this node owns.", []string{"entity"}, nil),
		recovered: prometheus.NewDesc("eventfold_processor_partitions_recovered",
			"Partitions of the entity type with a recovered table on this node (owned or hot standby).", []string{"entity"}, nil),
		lag: prometheus.NewDesc("eventfold_processor_consumer_lag",
			"Events in the partition not yet delivered to the fold (high-water mark minus next offset).", []string{"entity", "partition"}, nil),
		tableSize: prometheus.NewDesc("eventfold_processor_table_bytes",
			"Bytes of the entity type's LevelDB tables on this node's disk.", []string{"entity"}, nil),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.assigned
	ch <- c.recovered
	ch <- c.lag
	ch <- c.tableSize
	ch <- table.StandbyLagDesc
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	for _, name := range c.p.order {
		rt := c.p.byName[name]
		rt.mu.RLock()
		ch <- prometheus.MustNewConstMetric(c.assigned, prometheus.GaugeValue, float64(len(rt.assigned)), name)
		for part, lag := range rt.lag {
			ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, float64(lag), name, strconv.Itoa(int(part)))
		}
		rt.mu.RUnlock()
		recovered := rt.stores.Recovered()
		ch <- prometheus.MustNewConstMetric(c.recovered, prometheus.GaugeValue, float64(len(recovered)), name)
		rt.stores.CollectStandbyLag(ch, name, func(part int32) bool { return !rt.owns(part) })
		ch <- prometheus.MustNewConstMetric(c.tableSize, prometheus.GaugeValue, float64(dirSize(filepath.Join(c.p.cfg.DataDir, rt.group))), name)
	}
}

func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}
