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
