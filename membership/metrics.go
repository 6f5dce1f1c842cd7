package membership

import "github.com/prometheus/client_golang/prometheus"

// Collector returns a Prometheus collector of this node's view of the
// gossip cluster: members by state, membership events and suspicions
// since start, events dropped for a slow reader, and memberlist's health
// score. It reads the view at scrape time and keeps no state of its own.
func (m *Membership) Collector() prometheus.Collector { return gossipCollector{m} }

var (
	gossipMembersDesc = prometheus.NewDesc("cairn_gossip_members",
		"Members of the gossip cluster as this node sees them, by state (alive, suspect, dead, left); dead and left members are kept for 24 h.",
		[]string{"state"}, nil)
	gossipEventsDesc = prometheus.NewDesc("cairn_gossip_events_total",
		"Membership events this node observed, by kind (joined, updated, left, failed).",
		[]string{"kind"}, nil)
	gossipSuspicionsDesc = prometheus.NewDesc("cairn_gossip_suspicions_total",
		"Times this node's own probe of a member went unanswered and it suspected the member.",
		nil, nil)
	gossipDroppedDesc = prometheus.NewDesc("cairn_gossip_events_dropped_total",
		"Membership events dropped because their reader fell behind.",
		nil, nil)
	gossipHealthDesc = prometheus.NewDesc("cairn_gossip_health_score",
		"memberlist's awareness score: 0 is healthy; it rises while this node misses its own probe deadlines (an overloaded or starved node).",
		nil, nil)
)

type gossipCollector struct{ m *Membership }

func (c gossipCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- gossipMembersDesc
	ch <- gossipEventsDesc
	ch <- gossipSuspicionsDesc
	ch <- gossipDroppedDesc
	ch <- gossipHealthDesc
}

func (c gossipCollector) Collect(ch chan<- prometheus.Metric) {
	byState, published, suspicions, dropped := c.m.view.counts()
	for _, st := range []State{StateAlive, StateSuspect, StateDead, StateLeft} {
		ch <- prometheus.MustNewConstMetric(gossipMembersDesc, prometheus.GaugeValue, float64(byState[st]), st.String())
	}
	for kind := EventJoined; kind <= EventFailed; kind++ {
		ch <- prometheus.MustNewConstMetric(gossipEventsDesc, prometheus.CounterValue, float64(published[kind]), kind.String())
	}
	ch <- prometheus.MustNewConstMetric(gossipSuspicionsDesc, prometheus.CounterValue, float64(suspicions))
	ch <- prometheus.MustNewConstMetric(gossipDroppedDesc, prometheus.CounterValue, float64(dropped))
	ch <- prometheus.MustNewConstMetric(gossipHealthDesc, prometheus.GaugeValue, float64(c.m.ml.GetHealthScore()))
}
