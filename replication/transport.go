package replication

import (
	"time"

	"github.com/cairnkv/cairn/storage"
	"go.etcd.io/raft/v3/raftpb"
)

// Transport carries raft messages to peers. Send must not block on the
// network: it queues and returns. A message that cannot be delivered is
// dropped; raft retries. Incoming messages are handed to
// Scheduler.Deliver.
type Transport interface {
	Send(group storage.GroupID, msgs []raftpb.Message)
}

// HeardFrom is implemented by transports that know when each peer last
// sent anything at all (keepalives included): Group.Peers reports it
// beside the group's own last message, which stops while it is idle.
type HeardFrom interface {
	LastHeard(node uint64) time.Time
}

// LocalOnly is the transport of a single-node deployment: every group has
// only this node as voter, so nothing is ever sent.
type LocalOnly struct{}

// Send drops the messages; a single-voter group produces none that matter.
func (LocalOnly) Send(storage.GroupID, []raftpb.Message) {}
