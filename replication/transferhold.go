package replication

import (
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
)

// A leader in the middle of a leadership transfer refuses proposals, and
// raft drops the ones followers forward to it without a word: their
// proposers learn nothing. When the transfer completes, the proposers see
// the new leader and fail them at once (ErrLeaderChanged, see
// markOrphans). When it is abandoned (the target did not take over
// within an election timeout), this node still leads in the same term,
// and the proposers used to wait for their request timeout.
//
// So a transferring leader holds the proposals forwarded to it until the
// transfer ends. If it still leads then, they go to raft; if not, they
// are dropped, as raft would have dropped them: forwarding them to the
// new leader would commit writes whose proposers already gave up on them
// (and whose clients may have retried).

// holdsForwarded reports whether forwarded proposals must be held now:
// this node leads and is handing its leadership over.
func holdsForwarded(st raft.BasicStatus) bool {
	return st.RaftState == raft.StateLeader && st.LeadTransferee != raft.None
}

// holdForwarded takes the forwarded proposals out of msgs, if this node
// is a leader in the middle of a transfer (as the last feed left raft:
// only feed steps and ticks it), and keeps them (up to maxParked; raft
// would have dropped the others too).
func (g *Group) holdForwarded(msgs []raftpb.Message) []raftpb.Message {
	if !g.transferring {
		return msgs
	}
	kept := msgs[:0:0]
	for _, m := range msgs {
		switch {
		case m.Type != raftpb.MsgProp:
			kept = append(kept, m)
		case len(g.heldForwarded) < maxParked:
			g.heldForwarded = append(g.heldForwarded, m)
		}
	}
	return kept
}

// releaseForwarded ends the hold once the transfer is over (st is raft's
// status now): the held proposals go to raft if this node still leads,
// and are dropped if it does not.
func (g *Group) releaseForwarded(st raft.BasicStatus) {
	if len(g.heldForwarded) == 0 || holdsForwarded(st) {
		return
	}
	held := g.heldForwarded
	g.heldForwarded = nil
	if st.RaftState != raft.StateLeader {
		return
	}
	// Judged now, not when held, as any peer message: raft takes them
	// as of now (a disk that ran low meanwhile drops them too).
	diskLow := g.diskLow()
	for i := range held {
		g.stepPeer(&held[i], diskLow)
	}
}
