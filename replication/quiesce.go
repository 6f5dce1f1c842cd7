package replication

import (
	"bytes"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"go.etcd.io/raft/v3/tracker"
)

// Quiescing: an idle group with several replicas stops ticking, so it
// sends no heartbeats and runs no election timers, and costs nothing
// until something happens to it (as CockroachDB's ranges do).
//
//   - The leader quiesces on a tick when it has nothing in flight: no
//     proposals, reads, membership changes or leadership transfer pending,
//     everything committed and applied, and every follower that is not
//     known to be down has acknowledged the whole log; a quorum of voters
//     must be among those. It then sends each such follower one last
//     heartbeat marked "quiesce", carrying the commit index.
//   - A follower quiesces when it steps that heartbeat and finds itself
//     following that leader in that term with that commit index.
//   - Anything else wakes a group: a proposal, a read, a membership
//     change, a raft message other than the quiesce heartbeat (and, at the
//     leader, heartbeat responses), a snapshot report, or the node telling
//     the scheduler that a peer went down or came back (SetPeersDown) or
//     that a peer's connection dropped (PeerLost). A woken group ticks
//     again and the leader re-quiesces once idle.
//   - A quiesced follower cannot notice by itself that its leader died.
//     The node's failure detector (gossip) and the peer transport tell the
//     scheduler; groups led by a peer reported down wake and forget their
//     leader (raft's ForgetLeader), so they elect without waiting out the
//     leader's lease.
//
// raft itself is untouched: quiescing is the driver not calling Tick, and
// the quiesce heartbeat is an ordinary MsgHeartbeat whose Context marks it.

// quiesceCtx marks a quiesce heartbeat (and the follower's response, which
// echoes the context). ReadIndex contexts are 8 bytes, so never equal.
var quiesceCtx = []byte("cairn/quiesce")

func isQuiesceHeartbeat(m *raftpb.Message) bool {
	return m.Type == raftpb.MsgHeartbeat && bytes.Equal(m.Context, quiesceCtx)
}

// isPlainHeartbeat: a leader's periodic heartbeat (ReadIndex rounds carry
// a context).
func isPlainHeartbeat(m *raftpb.Message) bool {
	return m.Type == raftpb.MsgHeartbeat && len(m.Context) == 0
}

// wakes reports whether a message received by a quiesced replica must wake
// it whatever else arrived with it: everything but heartbeats and
// heartbeat responses (which a quiesced leader, whose followers are all
// caught up, only needs to record).
func wakes(m *raftpb.Message) bool {
	return !isQuiesceHeartbeat(m) && !isPlainHeartbeat(m) && m.Type != raftpb.MsgHeartbeatResp
}

// lastQuiesceHeartbeat returns the quiesce heartbeat of msgs if no plain
// heartbeat follows it (the leader's tick that quiesced it sends both, in
// that order), and whether msgs hold a plain heartbeat.
func lastQuiesceHeartbeat(msgs []raftpb.Message) (q *raftpb.Message, plain bool) {
	for i := range msgs {
		switch {
		case isQuiesceHeartbeat(&msgs[i]):
			q = &msgs[i]
		case isPlainHeartbeat(&msgs[i]):
			q, plain = nil, true
		}
	}
	return q, plain
}

// Quiesced reports whether the group is quiesced (not ticking).
func (g *Group) Quiesced() bool { return g.quiesced.Load() }

func (g *Group) unquiesce() {
	if g.quiesced.Swap(false) {
		g.sched.metrics.unquiesces.Inc()
	}
}

// maybeQuiesceLeader quiesces the group if it leads it and is idle (see
// above), and tells the followers. It runs on the worker after a tick was
// handled and every Ready with it.
func (g *Group) maybeQuiesceLeader() {
	if !g.sched.cfg.Quiesce || g.quiesced.Load() || g.solo.Load() || g.stayAwake > 0 {
		return
	}
	bs := g.rn.BasicStatus()
	if bs.RaftState != raft.StateLeader || bs.LeadTransferee != raft.None {
		return
	}
	if len(g.waiting)+len(g.parkedProps)+len(g.parkedReads)+len(g.readBatches)+len(g.readNext) > 0 || g.inboxPending() {
		return
	}
	_, last, _ := g.log.Stats()
	if bs.Commit != last || bs.Applied != last {
		return
	}
	self := g.sched.cfg.NodeID
	down := g.sched.peersDown()
	var followers []uint64
	voters, liveVoters, idle := 0, 0, true
	g.rn.WithProgress(func(id uint64, typ raft.ProgressType, pr tracker.Progress) {
		if typ == raft.ProgressTypePeer {
			voters++
		}
		switch {
		case id == self:
		case down[id]:
			// A peer known to be down is not waited for; it wakes the
			// group when it comes back (SetPeersDown, or its own
			// campaign reaching this node).
			return
		case pr.Match != last || pr.State != tracker.StateReplicate:
			idle = false
			return
		default:
			followers = append(followers, id)
		}
		if typ == raft.ProgressTypePeer {
			liveVoters++
		}
	})
	if !idle || 2*liveVoters <= voters {
		return
	}
	g.quiesced.Store(true)
	g.sched.metrics.quiesces.Inc()
	if len(followers) == 0 {
		return
	}
	msgs := make([]raftpb.Message, len(followers))
	for i, id := range followers {
		msgs[i] = raftpb.Message{Type: raftpb.MsgHeartbeat, From: self, To: id, Term: bs.Term, Commit: last, Context: quiesceCtx}
	}
	g.sched.transport.Send(g.id, msgs)
}

// maybeQuiesceFollower quiesces a follower that has just stepped its
// leader's quiesce heartbeat m, if it agrees with it.
func (g *Group) maybeQuiesceFollower(m *raftpb.Message) {
	if !g.sched.cfg.Quiesce {
		return
	}
	if g.orphans > 0 {
		return // keep ticking until they come back or expire
	}
	if len(g.readBatches)+len(g.readNext) > 0 {
		return // keep ticking: a read round whose answer was lost is asked again
	}
	bs := g.rn.BasicStatus()
	if bs.RaftState == raft.StateFollower && bs.Lead == m.From && bs.Term == m.Term && bs.Commit == m.Commit {
		if !g.quiesced.Swap(true) {
			g.sched.metrics.quiesces.Inc()
		}
	}
}

// SetPeersDown tells the scheduler which peers the node's failure detector
// considers down. Quiesced groups whose leader is down wake and forget it,
// so they elect a new one; when the set changes, quiesced groups this
// node leads wake too, to catch up a peer that came back or to notice
// that they lost their quorum. Calling it again with the same set only
// re-checks for quiesced groups led by a down peer.
func (s *Scheduler) SetPeersDown(down map[uint64]bool) {
	cp := make(map[uint64]bool, len(down))
	for id, d := range down {
		if d {
			cp[id] = true
		}
	}
	s.mu.Lock()
	changed := !sameSet(s.down, cp)
	s.down = cp
	groups := s.groupsLocked()
	s.mu.Unlock()
	self := s.cfg.NodeID
	for _, g := range groups {
		if !g.quiesced.Load() {
			continue
		}
		lead := g.leader.Load()
		switch {
		case lead != self && (lead == 0 || cp[lead]):
			g.wake(true)
		case changed && lead == self:
			g.wake(false)
		}
	}
}

// PeerLost tells the scheduler that a peer's connection to this node
// ended (it stopped, crashed, or the link broke): quiesced groups it leads
// wake, so that if it is gone they elect after an election timeout rather
// than wait for the failure detector.
func (s *Scheduler) PeerLost(peer uint64) {
	s.mu.Lock()
	groups := s.groupsLocked()
	s.mu.Unlock()
	for _, g := range groups {
		if g.quiesced.Load() && g.leader.Load() == peer {
			g.wake(false)
		}
	}
}

func (s *Scheduler) peersDown() map[uint64]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.down
}

func (s *Scheduler) groupsLocked() []*Group {
	out := make([]*Group, 0, len(s.groups))
	for _, g := range s.groups {
		out = append(out, g)
	}
	return out
}

// wake asks the worker to unquiesce the group (and, with forget, to forget
// its leader).
func (g *Group) wake(forget bool) {
	g.inMu.Lock()
	g.wakeUp = true
	g.forget = g.forget || forget
	g.inMu.Unlock()
	g.sched.enqueue(g)
}

func sameSet(a, b map[uint64]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}
