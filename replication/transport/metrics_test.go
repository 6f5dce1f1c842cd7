package transport

import (
	"strings"
	"testing"

	"github.com/cairnkv/cairn/storage"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.etcd.io/raft/v3/raftpb"
)

// The collector exports what Stats counts: after node 1 sends node 2
// ten messages, both sides' series say so, labelled with the peer's ID.
func TestCollectorExportsPeerCounters(t *testing.T) {
	b := newBook()
	ra, rb := newRecorder(), newRecorder()
	a := startNode(t, testConfig(1, b), ra, b)
	z := startNode(t, testConfig(2, b), rb, b)
	for g := range uint64(10) {
		a.Send(storage.GroupID(g), []raftpb.Message{{Type: raftpb.MsgHeartbeat, From: 1, To: 2, Term: 3}})
	}
	waitFor(t, "the messages", func() bool { return rb.totalMsgs() == 10 })
	waitFor(t, "the sender's counters", func() bool { return a.Stats().Peers[2].SentMsgs == 10 })

	regA, regZ := prometheus.NewPedanticRegistry(), prometheus.NewPedanticRegistry()
	regA.MustRegister(a.Collector())
	regZ.MustRegister(z.Collector())
	want := `
# HELP cairn_peer_sent_messages_total Raft messages and calls written to the peer.
# TYPE cairn_peer_sent_messages_total counter
cairn_peer_sent_messages_total{peer="0000000000000002"} 10
# HELP cairn_peer_connected 1 while this node's stream connection to the peer is up.
# TYPE cairn_peer_connected gauge
cairn_peer_connected{peer="0000000000000002"} 1
`
	if err := testutil.GatherAndCompare(regA, strings.NewReader(want), "cairn_peer_sent_messages_total", "cairn_peer_connected"); err != nil {
		t.Fatal(err)
	}
	want = `
# HELP cairn_peer_received_messages_total Raft messages received from the peer.
# TYPE cairn_peer_received_messages_total counter
cairn_peer_received_messages_total{peer="0000000000000001"} 10
# HELP cairn_peer_connections_accepted_total Incoming peer connections that passed the handshake.
# TYPE cairn_peer_connections_accepted_total counter
cairn_peer_connections_accepted_total 1
`
	if err := testutil.GatherAndCompare(regZ, strings.NewReader(want), "cairn_peer_received_messages_total", "cairn_peer_connections_accepted_total"); err != nil {
		t.Fatal(err)
	}
	// Every family gathers without error (the pedantic registry checks
	// the descriptions against the metrics).
	if n, err := testutil.GatherAndCount(regA); err != nil || n == 0 {
		t.Fatalf("%d series, %v", n, err)
	}
}
