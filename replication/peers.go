package replication

import (
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
)

// PeerProgress is what a group's leader knows of another replica: how
// much of the log it holds and when it was last heard from. Operators
// read it as nats-server's stream info reports a stream's replicas.
type PeerProgress struct {
	ID uint64
	// Match is the highest log index known to be on the replica.
	Match uint64
	// Lag is how many entries of the leader's log the replica lacks.
	Lag uint64
	// Heard is when the replica's last message to this group arrived;
	// zero if none has since this node started. An idle group quiesces
	// (quiesce.go) and exchanges no messages, so this ages while nothing
	// is written.
	Heard time.Time
	// NodeHeard is when the replica's node last sent anything to this
	// one, keepalives included (zero if the transport does not say:
	// HeardFrom).
	NodeHeard time.Time
	// Learner: the replica does not vote yet (it is catching up).
	Learner bool
}

// Peers returns the leader's view of every other replica, and the
// leader's commit index; ok is false on a replica that does not lead.
func (g *Group) Peers() (peers []PeerProgress, commit uint64, ok bool) {
	g.sched.lockGroup(g)
	defer g.sched.unlockGroup(g)
	if g.rn == nil {
		return nil, 0, false
	}
	st := g.rn.Status()
	if st.RaftState != raft.StateLeader {
		return nil, 0, false
	}
	_, last, _ := g.log.Stats()
	self := g.sched.cfg.NodeID
	hf, _ := g.sched.transport.(HeardFrom)
	for id, pr := range st.Progress {
		if id == self {
			continue
		}
		p := PeerProgress{
			ID:      id,
			Match:   pr.Match,
			Lag:     last - min(last, pr.Match),
			Heard:   g.heard[id],
			Learner: pr.IsLearner,
		}
		if hf != nil {
			p.NodeHeard = hf.LastHeard(id)
		}
		peers = append(peers, p)
	}
	return peers, st.Commit, true
}

// noteHeard records when each sender's messages were fed to raft. It
// runs on the group's worker, once per inbox drain.
func (g *Group) noteHeard(msgs []raftpb.Message) {
	if len(msgs) == 0 {
		return
	}
	now := time.Now()
	for i := range msgs {
		if from := msgs[i].From; from != 0 && from != g.sched.cfg.NodeID {
			g.heard[from] = now
		}
	}
}
