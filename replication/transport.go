package replication

import (
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

// LocalOnly is the transport of a single-node deployment: every group has
// only this node as voter, so nothing is ever sent.
type LocalOnly struct{}

// Send drops the messages; a single-voter group produces none that matter.
func (LocalOnly) Send(storage.GroupID, []raftpb.Message) {}
