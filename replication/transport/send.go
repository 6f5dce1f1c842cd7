package transport

import (
	"github.com/cairnkv/cairn/storage"
	"go.etcd.io/raft/v3/raftpb"
)

// Send queues a group's raft messages for their peers and returns; it
// never waits on the network. Messages that cannot be queued are dropped
// and reported through Handler.ReportUnreachable (raft retries). A MsgSnap
// starts a snapshot stream on its own connection; its outcome comes back
// through Handler.ReportSnapshot.
func (t *Transport) Send(group storage.GroupID, msgs []raftpb.Message) {
	if t.closing() {
		return
	}
	g := uint64(group)
	// Few peers per Send (a group's replicas), so a linear scan beats a map.
	var seen [8]uint64
	peers := seen[:0]
	for i := range msgs {
		m := &msgs[i]
		switch {
		case m.Type == raftpb.MsgSnap:
			t.sendSnapshot(g, *m)
			continue
		case m.To == 0 || m.To == t.cfg.NodeID:
			t.log.Debug("peer transport: dropping raft message not addressed to a peer", "group", g, "type", m.Type.String(), "to", m.To)
			continue
		case contains(peers, m.To):
			continue
		}
		peers = append(peers, m.To)
		p := t.peerFor(m.To)
		if p == nil {
			if !t.closing() {
				t.log.Warn("peer transport: too many peers; dropping", "to", m.To)
				t.rep.unreachable(g, m.To)
			}
			continue
		}
		// Takes every message of msgs for this peer, from i on.
		p.enqueueRaft(g, msgs[i:])
	}
}

func contains(s []uint64, v uint64) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
