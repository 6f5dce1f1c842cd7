package node

import (
	"fmt"
	"io"

	"github.com/cairnkv/cairn/storage"
	"go.etcd.io/raft/v3/raftpb"
)

// raftHandler hands what the peer transport receives to the node's raft
// groups. Messages for a group this node does not run yet are held
// briefly by the scheduler (a new bucket's first votes often arrive
// before its group starts here), then dropped: raft retries, and the
// registry decides where groups run.
type raftHandler struct{ n *Node }

func (h raftHandler) HandleRaft(group uint64, msgs []raftpb.Message) {
	for _, m := range msgs {
		_ = h.n.sched.Deliver(storage.GroupID(group), m)
	}
}

// PeerLost: a peer's connection ended; groups it leads that are quiesced
// wake, so they elect if it is gone.
func (h raftHandler) PeerLost(peer uint64) { h.n.sched.PeerLost(peer) }

func (h raftHandler) ReportUnreachable(group uint64, to uint64) {
	if g, ok := h.n.sched.Group(storage.GroupID(group)); ok {
		g.ReportUnreachable(to)
	}
}

func (h raftHandler) ReportSnapshot(group uint64, to uint64, failed bool) {
	if g, ok := h.n.sched.Group(storage.GroupID(group)); ok {
		g.ReportSnapshot(to, failed)
	}
}

func (h raftHandler) OpenSnapshot(group uint64, m raftpb.SnapshotMetadata) (io.ReadCloser, error) {
	g, ok := h.n.sched.Group(storage.GroupID(group))
	if !ok {
		return nil, fmt.Errorf("group %d: not on this node", group)
	}
	return g.OpenSnapshot(m.Index)
}

func (h raftHandler) ReceiveSnapshot(group uint64, msg raftpb.Message, data io.Reader) error {
	g, ok := h.n.sched.Group(storage.GroupID(group))
	if !ok {
		return fmt.Errorf("group %d: not on this node", group)
	}
	return g.StageSnapshot(msg.Snapshot.Metadata.Index, data)
}
