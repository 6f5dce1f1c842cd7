package membership

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// gossipMetrics gathers n's collector through a pedantic registry (which
// checks the metrics against their descriptions) and returns each
// sample, named "metric" or "metric{value}" by its one label's value.
func gossipMetrics(t *testing.T, n *testNode) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(n.Collector()); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			name := f.GetName()
			for _, l := range m.GetLabel() {
				name += "{" + l.GetValue() + "}"
			}
			switch {
			case m.GetGauge() != nil:
				out[name] = m.GetGauge().GetValue()
			case m.GetCounter() != nil:
				out[name] = m.GetCounter().GetValue()
			}
		}
	}
	return out
}

// The gossip metrics follow the view: members by state, and the events
// and suspicions that a crash brings.
func TestMetricsFollowTheView(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 3)
	victim, rest := nodes[2], nodes[:2]
	got := gossipMetrics(t, rest[0])
	for name, want := range map[string]float64{
		"cairn_gossip_members{alive}":       3,
		"cairn_gossip_members{dead}":        0,
		"cairn_gossip_events_total{failed}": 0,
		"cairn_gossip_events_dropped_total": 0,
	} {
		if got[name] != want {
			t.Errorf("before the crash: %s = %v, want %v", name, got[name], want)
		}
	}
	if got["cairn_gossip_events_total{joined}"] < 3 {
		t.Errorf("joined events %v, want at least 3 (itself and two peers)", got["cairn_gossip_events_total{joined}"])
	}
	if _, ok := got["cairn_gossip_health_score"]; !ok {
		t.Error("no health score")
	}

	if err := victim.Close(); err != nil {
		t.Fatal(err)
	}
	waitState(t, detectTimeout, 3, StateDead, rest...)
	suspicions := 0.0
	for _, o := range rest {
		got := gossipMetrics(t, o)
		for name, want := range map[string]float64{
			"cairn_gossip_members{alive}":       2,
			"cairn_gossip_members{dead}":        1,
			"cairn_gossip_events_total{failed}": 1,
		} {
			if got[name] != want {
				t.Errorf("node %d after the crash: %s = %v, want %v", o.id, name, got[name], want)
			}
		}
		suspicions += got["cairn_gossip_suspicions_total"]
	}
	if suspicions == 0 {
		t.Error("no survivor counted a suspicion before the crashed node was declared dead")
	}
}
