package transport

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Collector returns a Prometheus collector that reads the transport's
// counters (Stats) at scrape time: per peer (label peer, the node ID as
// cairn_node_info's node_id gives it) whether it is connected, what is queued for
// it, what was sent and received, dropped and failed; and for the node,
// accepted and refused connections and snapshot streams by outcome.
func (t *Transport) Collector() prometheus.Collector {
	peer := []string{"peer"}
	d := func(name, help string, labels []string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &collector{t: t,
		connected:  d("cairn_peer_connected", "1 while this node's stream connection to the peer is up.", peer),
		queued:     d("cairn_peer_queued_bytes", "Bytes of raft messages and calls waiting to be written to the peer.", peer),
		sentMsgs:   d("cairn_peer_sent_messages_total", "Raft messages and calls written to the peer.", peer),
		sentBytes:  d("cairn_peer_sent_bytes_total", "Bytes written to the peer, keepalives included.", peer),
		writes:     d("cairn_peer_writes_total", "Write system calls that carried messages to the peer (fewer than messages when batching works).", peer),
		recvMsgs:   d("cairn_peer_received_messages_total", "Raft messages received from the peer.", peer),
		recvBytes:  d("cairn_peer_received_bytes_total", "Bytes received from the peer.", peer),
		dropped:    d("cairn_peer_dropped_messages_total", "Raft messages to the peer dropped (queue full, peer down, write failed); raft resends what matters.", peer),
		errors:     d("cairn_peer_errors_total", "Failed dials and writes, and bad or broken connections, with the peer.", peer),
		connects:   d("cairn_peer_connects_total", "Successful dials to the peer.", peer),
		accepted:   d("cairn_peer_connections_accepted_total", "Incoming peer connections that passed the handshake.", nil),
		rejected:   d("cairn_peer_connections_rejected_total", "Incoming peer connections refused (bad handshake, wrong node, missing or different peer key, over the limit).", nil),
		tlsFailed:  d("cairn_peer_tls_failures_total", "Incoming peer connections whose TLS handshake failed (no or untrusted certificate, or a peer without TLS); also counted as rejected.", nil),
		snapsSent:  d("cairn_peer_snapshots_sent_total", "Snapshot streams sent to peers, by outcome.", []string{"outcome"}),
		snapsRecvd: d("cairn_peer_snapshots_received_total", "Snapshot streams received from peers, by outcome.", []string{"outcome"}),
	}
}

type collector struct {
	t                                         *Transport
	connected, queued                         *prometheus.Desc
	sentMsgs, sentBytes, writes               *prometheus.Desc
	recvMsgs, recvBytes                       *prometheus.Desc
	dropped, errors, connects                 *prometheus.Desc
	accepted, rejected, snapsSent, snapsRecvd *prometheus.Desc
	tlsFailed                                 *prometheus.Desc
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.connected, c.queued, c.sentMsgs, c.sentBytes, c.writes,
		c.recvMsgs, c.recvBytes, c.dropped, c.errors, c.connects, c.accepted, c.rejected, c.tlsFailed, c.snapsSent, c.snapsRecvd} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	st := c.t.Stats()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for id, p := range st.Peers {
		l := fmt.Sprintf("%016x", id) // as cairn_node_info{node_id}
		up := 0.0
		if p.Connected {
			up = 1
		}
		gauge(c.connected, up, l)
		gauge(c.queued, float64(p.QueuedBytes), l)
		counter(c.sentMsgs, p.SentMsgs, l)
		counter(c.sentBytes, p.SentBytes, l)
		counter(c.writes, p.Writes, l)
		counter(c.recvMsgs, p.RecvMsgs, l)
		counter(c.recvBytes, p.RecvBytes, l)
		counter(c.dropped, p.Dropped, l)
		counter(c.errors, p.Errors, l)
		counter(c.connects, p.Connects, l)
	}
	counter(c.accepted, st.ConnsAccepted)
	counter(c.rejected, st.ConnsRejected)
	counter(c.tlsFailed, st.TLSFailures)
	counter(c.snapsSent, st.SnapshotsSent, "ok")
	counter(c.snapsSent, st.SnapshotSendFailures, "failed")
	counter(c.snapsRecvd, st.SnapshotsReceived, "ok")
	counter(c.snapsRecvd, st.SnapshotReceiveFailures, "failed")
}
