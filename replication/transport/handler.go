package transport

import (
	"io"

	"go.etcd.io/raft/v3/raftpb"
)

// Handler is what the transport delivers to; the node layer implements it.
// Its methods are called concurrently from the transport's goroutines (one
// per peer connection, snapshot stream and reporter) and should return
// quickly: HandleRaft holds up the peer's connection while it runs, and
// Close waits for every call in progress.
type Handler interface {
	// HandleRaft receives raft messages for group, in the order the peer
	// sent them.
	HandleRaft(group uint64, msgs []raftpb.Message)
	// ReportUnreachable says a message of group to node `to` was dropped
	// (peer down, unresolvable, or its queue full). Reports are coalesced.
	ReportUnreachable(group uint64, to uint64)
	// ReportSnapshot gives the outcome of a MsgSnap handed to Send.
	ReportSnapshot(group uint64, to uint64, failed bool)
	// OpenSnapshot is the sender side of a snapshot: the group's state at
	// meta, as a byte stream. The transport closes it.
	OpenSnapshot(group uint64, meta raftpb.SnapshotMetadata) (io.ReadCloser, error)
	// ReceiveSnapshot is the receiver side: it consumes and stages the
	// verified stream for group, to be used once raft accepts msg (which
	// HandleRaft delivers right after). An error rejects the snapshot.
	// msg.Snapshot.Data is empty: the state is data.
	ReceiveSnapshot(group uint64, msg raftpb.Message, data io.Reader) error
}

// PeerObserver is implemented by Handlers that want to hear when a peer's
// stream connection to this node ends without being replaced: the peer
// stopped, crashed, or the link broke. The node uses it to wake idle raft
// groups that peer leads sooner than failure detection would. Called from
// the connection's goroutine; it should return quickly.
type PeerObserver interface {
	PeerLost(peer uint64)
}
