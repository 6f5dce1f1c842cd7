package frontdoor

import (
	"github.com/cairnkv/cairn/node/jetstream"
	"github.com/cairnkv/cairn/node/natsserver"
	"github.com/prometheus/client_golang/prometheus"
)

// natsCollector reads the NATS listener's counters at scrape time.
type natsCollector struct {
	s                                  *natsserver.Server
	js                                 *jetstream.Server
	pending, refused                   *prometheus.Desc
	conns, total, subs                 *prometheus.Desc
	inMsgs, inBytes, outMsgs, outBytes *prometheus.Desc
	slow, dropped, authFail, tlsFail   *prometheus.Desc
}

// Collectors returns the front doors' Prometheus collectors.
func (f *FrontDoors) Collectors() []prometheus.Collector {
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }
	return []prometheus.Collector{&natsCollector{
		s:        f.NATS,
		js:       f.JS,
		pending:  d("cairn_client_publishes_pending", "Publishes waiting for replication on this node (bounded by max-pending-publishes)."),
		refused:  d("cairn_client_publishes_refused_total", "Publishes refused with 429 too many requests because max-pending-publishes were already waiting."),
		conns:    d("cairn_client_connections", "NATS client connections open now."),
		total:    d("cairn_client_connections_total", "NATS client connections accepted."),
		subs:     d("cairn_client_subscriptions", "Client and in-process subscriptions."),
		inMsgs:   d("cairn_client_in_msgs_total", "Messages published into the NATS listener."),
		inBytes:  d("cairn_client_in_bytes_total", "Bytes published into the NATS listener."),
		outMsgs:  d("cairn_client_out_msgs_total", "Messages delivered to subscribers."),
		outBytes: d("cairn_client_out_bytes_total", "Bytes delivered to subscribers."),
		slow:     d("cairn_client_slow_consumers_total", "Connections cut off for not reading fast enough."),
		dropped:  d("cairn_client_internal_dropped_total", "Messages dropped because an in-process subscriber's queue was full."),
		authFail: d("cairn_client_auth_failures_total", "Connections refused for missing or wrong credentials (client-token, client-users), or for not authenticating in time."),
		tlsFail:  d("cairn_client_tls_failures_total", "Connections closed for a TLS handshake that failed or did not finish in time (client-tls-cert)."),
	}}
}

func (c *natsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.conns, c.total, c.subs, c.inMsgs, c.inBytes, c.outMsgs, c.outBytes, c.slow, c.dropped, c.authFail, c.tlsFail, c.pending, c.refused} {
		ch <- d
	}
}

func (c *natsCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.Stats()
	g := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	k := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	g(c.conns, float64(st.Connections))
	k(c.total, float64(st.TotalConnections))
	g(c.subs, float64(st.Subscriptions))
	k(c.inMsgs, float64(st.InMsgs))
	k(c.inBytes, float64(st.InBytes))
	k(c.outMsgs, float64(st.OutMsgs))
	k(c.outBytes, float64(st.OutBytes))
	k(c.slow, float64(st.SlowConsumers))
	k(c.dropped, float64(st.InternalDropped))
	k(c.authFail, float64(st.AuthFailures))
	k(c.tlsFail, float64(st.TLSFailures))
	pending, refused := c.js.PendingPublishes()
	g(c.pending, float64(pending))
	k(c.refused, float64(refused))
}
