package replication

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the scheduler's Prometheus series. Counters are updated on
// the hot path; per-group state is summarized at scrape time so that
// thousands of groups do not become thousands of series.
type metrics struct {
	proposals     *prometheus.CounterVec
	commitLatency prometheus.Histogram
	leaderChanges prometheus.Counter
	syncedBatches prometheus.Counter
	readyRounds   prometheus.Counter
	snapshotsSent prometheus.Counter
	snapshotsInst prometheus.Counter
	compactions   prometheus.Counter
	readIndex     prometheus.Counter
	quiesces      prometheus.Counter
	unquiesces    prometheus.Counter
	diskLowDrops  prometheus.Counter
	refusedMsgs   prometheus.Counter
}

func newMetrics() *metrics {
	return &metrics{
		proposals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cairn_raft_proposals_total",
			Help: "Proposals made on this node, by outcome (committed, dropped, failed).",
		}, []string{"outcome"}),
		commitLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "cairn_raft_commit_latency_seconds",
			Help:    "Time from proposing an entry on this node to its application here.",
			Buckets: prometheus.ExponentialBuckets(50e-6, 2, 18),
		}),
		leaderChanges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cairn_raft_leader_changes_total",
			Help: "Leader changes observed by this node's groups.",
		}),
		syncedBatches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cairn_raft_synced_batches_total",
			Help: "Raft Ready batches committed to storage with fsync.",
		}),
		readyRounds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cairn_raft_ready_total",
			Help: "Raft Ready rounds handled.",
		}),
		snapshotsSent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cairn_raft_snapshots_sent_total",
			Help: "Snapshots streamed to followers.",
		}),
		snapshotsInst: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cairn_raft_snapshots_installed_total",
			Help: "Snapshots received and installed.",
		}),
		compactions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cairn_raft_log_truncations_total",
			Help: "Raft log truncations.",
		}),
		readIndex: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cairn_raft_read_index_total",
			Help: "ReadIndex rounds (each serves every read queued at the time).",
		}),
		quiesces: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cairn_raft_quiesces_total",
			Help: "Times an idle group of several replicas stopped ticking here.",
		}),
		unquiesces: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cairn_raft_unquiesces_total",
			Help: "Times a quiesced group woke up here.",
		}),
		refusedMsgs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cairn_raft_messages_refused_total",
			Help: "Raft messages from peers refused before raft saw them, because they contradict this replica's log in a way no correct peer does (see replication/admit.go).",
		}),
		diskLowDrops: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cairn_raft_disk_low_drops_total",
			Help: "Raft appends and forwarded proposals dropped because the data disk was below its free-space reserve.",
		}),
	}
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.proposals, m.commitLatency, m.leaderChanges, m.syncedBatches,
		m.readyRounds, m.snapshotsSent, m.snapshotsInst, m.compactions, m.readIndex, m.quiesces, m.unquiesces, m.diskLowDrops, m.refusedMsgs}
}

func (m *metrics) observeCommit(since time.Time) {
	m.commitLatency.Observe(time.Since(since).Seconds())
}

// groupsCollector summarizes every group at scrape time.
type groupsCollector struct {
	s        *Scheduler
	groups   *prometheus.Desc
	leading  *prometheus.Desc
	noLeader *prometheus.Desc
	quiesced *prometheus.Desc
	lag      *prometheus.Desc
}

func newGroupsCollector(s *Scheduler) *groupsCollector {
	return &groupsCollector{
		s:        s,
		groups:   prometheus.NewDesc("cairn_raft_groups", "Raft groups on this node.", nil, nil),
		leading:  prometheus.NewDesc("cairn_raft_groups_leading", "Groups this node leads.", nil, nil),
		noLeader: prometheus.NewDesc("cairn_raft_groups_without_leader", "Groups with no known leader.", nil, nil),
		quiesced: prometheus.NewDesc("cairn_raft_groups_quiesced", "Groups that are idle and not ticking (quiesced).", nil, nil),
		lag:      prometheus.NewDesc("cairn_raft_apply_lag_max", "Largest gap between committed and applied index over this node's groups.", nil, nil),
	}
}

func (c *groupsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.groups
	ch <- c.leading
	ch <- c.noLeader
	ch <- c.quiesced
	ch <- c.lag
}

func (c *groupsCollector) Collect(ch chan<- prometheus.Metric) {
	c.s.mu.Lock()
	groups := make([]*Group, 0, len(c.s.groups))
	for _, g := range c.s.groups {
		groups = append(groups, g)
	}
	c.s.mu.Unlock()
	var leading, noLeader, quiesced, lag float64
	for _, g := range groups {
		if g.Quiesced() {
			quiesced++
		}
		switch g.Leader() {
		case 0:
			noLeader++
		case c.s.cfg.NodeID:
			leading++
		}
		if _, _, hs := g.log.Stats(); hs.Commit > g.Applied() {
			lag = max(lag, float64(hs.Commit-g.Applied()))
		}
	}
	ch <- prometheus.MustNewConstMetric(c.groups, prometheus.GaugeValue, float64(len(groups)))
	ch <- prometheus.MustNewConstMetric(c.leading, prometheus.GaugeValue, leading)
	ch <- prometheus.MustNewConstMetric(c.noLeader, prometheus.GaugeValue, noLeader)
	ch <- prometheus.MustNewConstMetric(c.quiesced, prometheus.GaugeValue, quiesced)
	ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, lag)
}

// Collectors returns the scheduler's Prometheus collectors.
func (s *Scheduler) Collectors() []prometheus.Collector {
	return append(s.metrics.collectors(), newGroupsCollector(s))
}
