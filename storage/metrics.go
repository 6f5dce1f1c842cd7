package storage

import "github.com/prometheus/client_golang/prometheus"

// Collector exposes a database's Pebble metrics to Prometheus, read at
// scrape time. kind labels the series ("disk" or "memory").
type Collector struct {
	db   *DB
	kind string

	diskBytes, walBytes, memtableBytes, readAmp *prometheus.Desc
	compactions, flushes, walWritten            *prometheus.Desc
}

// NewCollector returns a collector for db.
func NewCollector(db *DB, kind string) *Collector {
	l := prometheus.Labels{"db": kind}
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, l) }
	return &Collector{
		db: db, kind: kind,
		diskBytes:     d("cairn_storage_bytes", "Bytes the database uses (sstables, WAL, manifests)."),
		walBytes:      d("cairn_storage_wal_bytes", "Live write-ahead log bytes."),
		memtableBytes: d("cairn_storage_memtable_bytes", "Bytes allocated by memtables."),
		readAmp:       d("cairn_storage_read_amplification", "Sstable levels and sublevels a read may touch."),
		compactions:   d("cairn_storage_compactions_total", "Compactions completed."),
		flushes:       d("cairn_storage_flushes_total", "Memtable flushes completed."),
		walWritten:    d("cairn_storage_wal_written_bytes_total", "Bytes written to the write-ahead log."),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.diskBytes, c.walBytes, c.memtableBytes, c.readAmp, c.compactions, c.flushes, c.walWritten} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	m := c.db.Metrics()
	g := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	k := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	g(c.diskBytes, float64(m.DiskSpaceUsage()))
	g(c.walBytes, float64(m.WAL.Size))
	g(c.memtableBytes, float64(m.MemTable.Size))
	g(c.readAmp, float64(m.ReadAmp()))
	k(c.compactions, float64(m.Compact.Count))
	k(c.flushes, float64(m.Flush.Count))
	k(c.walWritten, float64(m.WAL.BytesWritten))
}
