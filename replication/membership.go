package replication

import (
	"context"
	"fmt"
	"slices"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
)

// Members is a group's raft configuration as this replica sees it.
type Members struct {
	Voters   []uint64
	Learners []uint64
}

// Has reports whether id is a voter or a learner.
func (m Members) Has(id uint64) bool {
	return slices.Contains(m.Voters, id) || slices.Contains(m.Learners, id)
}

// IsVoter reports whether id is a voter.
func (m Members) IsVoter(id uint64) bool { return slices.Contains(m.Voters, id) }

// Members returns the group's current voters and learners, sorted.
func (g *Group) Members() Members {
	st := g.Status()
	var m Members
	for id := range st.Config.Voters.IDs() {
		m.Voters = append(m.Voters, id)
	}
	for id := range st.Config.Learners {
		m.Learners = append(m.Learners, id)
	}
	slices.Sort(m.Voters)
	slices.Sort(m.Learners)
	return m
}

// Progress is how far a peer's log matches the leader's, as the leader
// sees it. Only the leader knows; elsewhere the map is empty.
type Progress struct {
	Match        uint64
	RecentActive bool
	IsLearner    bool
}

// LeaderView returns, on the leader, every peer's progress and the
// leader's last log index. ok is false on other replicas.
func (g *Group) LeaderView() (peers map[uint64]Progress, last uint64, ok bool) {
	st := g.Status()
	if st.RaftState != raft.StateLeader {
		return nil, 0, false
	}
	peers = map[uint64]Progress{}
	for id, pr := range st.Progress {
		peers[id] = Progress{Match: pr.Match, RecentActive: pr.RecentActive, IsLearner: pr.IsLearner}
		if id == g.sched.cfg.NodeID {
			last = pr.Match
		}
	}
	return peers, last, true
}

// ChangeMembership applies one membership change (add a learner, promote
// a learner to voter, remove a node) and waits until it is applied here.
// raft allows one change in flight per group; a change refused because
// another is pending is retried until ctx ends. It is a no-op when the
// configuration already has the wanted shape.
func (g *Group) ChangeMembership(ctx context.Context, cc raftpb.ConfChangeSingle) error {
	done := func() bool {
		m := g.Members()
		switch cc.Type {
		case raftpb.ConfChangeAddLearnerNode:
			return m.Has(cc.NodeID)
		case raftpb.ConfChangeAddNode:
			return m.IsVoter(cc.NodeID)
		case raftpb.ConfChangeRemoveNode:
			return !m.Has(cc.NodeID)
		}
		return true
	}
	for {
		if done() {
			return nil
		}
		if err := g.usable(); err != nil {
			return err
		}
		g.inMu.Lock()
		g.confChanges = append(g.confChanges, raftpb.ConfChangeV2{Changes: []raftpb.ConfChangeSingle{cc}})
		g.inMu.Unlock()
		g.sched.enqueue(g)
		// Wait for the applied index to move (the change, or whatever
		// raft committed instead), then look again.
		wait, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		start := g.Applied()
		for g.Applied() == start && wait.Err() == nil && !done() {
			_ = g.WaitApplied(wait, start+1)
		}
		cancel()
		if ctx.Err() != nil {
			if done() {
				return nil
			}
			return fmt.Errorf("group %d: membership change %s %x: %w", g.id, cc.Type, cc.NodeID, ctx.Err())
		}
	}
}
