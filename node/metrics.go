package node

import (
	"sync/atomic"

	"github.com/cairnkv/cairn/storage"
	"github.com/prometheus/client_golang/prometheus"
)

// cursorStats counts open cursors (watches and push consumers) and how far
// behind their bucket's last revision they are, for metrics.
type cursorStats struct {
	open atomic.Int64
}

type nodeCollector struct {
	n        *Node
	watches  *prometheus.Desc
	lag      *prometheus.Desc
	diskFree *prometheus.Desc
	diskLow  *prometheus.Desc
}

// Collectors returns the node's Prometheus collectors: raft groups,
// storage, and watches.
func (n *Node) Collectors() []prometheus.Collector {
	out := n.sched.Collectors()
	out = append(out, storage.NewCollector(n.disk, "disk"), storage.NewCollector(n.mem, "memory"))
	if n.cluster != nil {
		out = append(out, n.cluster.tr.Collector(), n.cluster.ml.Collector())
	}
	return append(out, &nodeCollector{
		n:       n,
		watches: prometheus.NewDesc("cairn_watches", "Open watches and push consumers on this node.", nil, nil),
		lag:     prometheus.NewDesc("cairn_watch_lag_max", "Largest number of revisions an open watch has yet to read.", nil, nil),
		diskFree: prometheus.NewDesc("cairn_data_disk_free_bytes",
			"Free space of the data directory's filesystem at the last check (min-free-disk on).", nil, nil),
		diskLow: prometheus.NewDesc("cairn_data_disk_low",
			"1 while the data disk is below min-free-disk and writes are refused.", nil, nil),
	})
}

func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.watches
	ch <- c.lag
	ch <- c.diskFree
	ch <- c.diskLow
}

func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(c.watches, prometheus.GaugeValue, float64(c.n.cursors.open.Load()))
	var lag uint64
	c.n.cursorMu.Lock()
	for cur := range c.n.cursorSet {
		lag = max(lag, cur.lag())
	}
	c.n.cursorMu.Unlock()
	ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, float64(lag))
	isLow, free, _ := c.n.DiskSpace()
	ch <- prometheus.MustNewConstMetric(c.diskFree, prometheus.GaugeValue, float64(free))
	low := 0.0
	if isLow {
		low = 1
	}
	ch <- prometheus.MustNewConstMetric(c.diskLow, prometheus.GaugeValue, low)
}
