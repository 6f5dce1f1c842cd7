package replication

import (
	"errors"
	"fmt"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/confchange"
	"go.etcd.io/raft/v3/raftpb"
	"go.etcd.io/raft/v3/tracker"
)

// etcd-raft trusts its peers: a message that contradicts the receiver's
// log (a heartbeat committing past its last entry, entries that do not
// follow the index they claim to follow, an acknowledgement of entries
// never sent) makes it panic, as log corruption would. No correct peer
// sends such a message, but anything that completes the transport's
// handshake can, so one forged message would take the whole node down.
// admit stops those before raft sees them: it refuses what raft would
// panic on, and only that; everything else, however odd, is raft's to
// judge (it ignores stale terms, rejects mismatched appends, and so on).
//
// The receiver's last index is its stable one (what is on disk). A
// correct leader never refers beyond it: it learns how far a follower's
// log reaches from the follower's acknowledgements, sent only once the
// entries are on disk.
func (g *Group) admit(m *raftpb.Message) error {
	if m.From == g.sched.cfg.NodeID && m.Type != raftpb.MsgTransferLeader {
		// raft answers the sender, and sending to itself is a panic. A
		// forwarded transfer names the transferee, which may be us.
		return fmt.Errorf("%s claims to come from this node", m.Type)
	}
	// Terms grow by one an election and indexes by one an entry: nothing
	// reaches 2^62, and raft's arithmetic on them would wrap near 2^64
	// (a campaign at the largest term is a campaign at term 0).
	if max(m.Term, m.LogTerm, m.Index, m.Commit, m.RejectHint) >= unreachable {
		return fmt.Errorf("%s with a term or index beyond reach (term %d, log term %d, index %d, commit %d, hint %d)",
			m.Type, m.Term, m.LogTerm, m.Index, m.Commit, m.RejectHint)
	}
	// raft sends proposals and read requests (which a follower forwards)
	// without a term and everything else with one, and panics on being
	// made to answer or forward a message otherwise.
	if forwarded := m.Type == raftpb.MsgProp || m.Type == raftpb.MsgReadIndex; forwarded != (m.Term == 0) {
		return fmt.Errorf("%s with term %d", m.Type, m.Term)
	}
	switch m.Type {
	case raftpb.MsgProp:
		return g.checkProposal(m)
	case raftpb.MsgTransferLeader:
		// A follower passes a transfer to its leader, with its term set;
		// raft would pass one that reaches a follower on again, and
		// panics on sending a message with its term already set.
		if g.rn.BasicStatus().RaftState != raft.StateLeader {
			return errors.New("leadership transfer sent to a replica that does not lead")
		}
	case raftpb.MsgReadIndex:
		// A follower forwards one read request, its context as the entry.
		if len(m.Entries) != 1 {
			return fmt.Errorf("read index request with %d entries", len(m.Entries))
		}
	case raftpb.MsgHeartbeat:
		// A correct leader sends min(follower's match, commit).
		last, err := g.log.LastIndex()
		if err != nil {
			return fmt.Errorf("reading last index: %w", err)
		}
		if m.Commit > last {
			return fmt.Errorf("heartbeat commits %d, beyond this replica's last index %d", m.Commit, last)
		}
	case raftpb.MsgApp:
		return checkAppend(m)
	case raftpb.MsgSnap:
		return checkSnapshot(m)
	}
	return nil
}

// unreachable bounds the terms and indexes admit lets through.
const unreachable = 1 << 62

// checkAppend checks that an append's entries follow the entry it names
// (index m.Index, term m.LogTerm) one after another, with terms that
// never fall and never pass the sender's.
func checkAppend(m *raftpb.Message) error {
	prevTerm := m.LogTerm
	for i, e := range m.Entries {
		if want := m.Index + 1 + uint64(i); e.Index != want {
			return fmt.Errorf("append after index %d carries entry %d at position %d, want %d", m.Index, e.Index, i, want)
		}
		if e.Term < prevTerm || e.Term > m.Term || e.Term == 0 {
			return fmt.Errorf("append entry %d has term %d after term %d, in a message of term %d", e.Index, e.Term, prevTerm, m.Term)
		}
		prevTerm = e.Term
	}
	return nil
}

// checkSnapshot checks what raft takes from a snapshot's metadata
// itself (the data was staged and checked on its way in): a membership
// raft cannot restore is a panic.
func checkSnapshot(m *raftpb.Message) error {
	if m.Snapshot == nil {
		return errors.New("snapshot message without a snapshot")
	}
	md := m.Snapshot.Metadata
	if max(md.Index, md.Term) >= unreachable {
		return fmt.Errorf("snapshot at index %d, term %d, beyond reach", md.Index, md.Term)
	}
	ch := confchange.Changer{Tracker: tracker.MakeProgressTracker(1, 0), LastIndex: md.Index}
	if _, _, err := confchange.Restore(ch, md.ConfState); err != nil {
		return fmt.Errorf("snapshot membership %v cannot be restored: %w", md.ConfState, err)
	}
	return nil
}

// checkProposal checks a proposal a follower forwarded: raft panics on
// an empty one, on a membership change it cannot decode, and, once the
// change commits, on one that cannot apply to the configuration (removing
// the last voter, say), which would take down every replica at once. A
// change is tried on a copy of the current configuration here; raft lets
// only one change be pending at a time, so the configuration it will
// apply to is this one.
func (g *Group) checkProposal(m *raftpb.Message) error {
	if len(m.Entries) == 0 {
		return errors.New("empty proposal")
	}
	for _, e := range m.Entries {
		switch e.Type {
		case raftpb.EntryNormal:
			continue
		case raftpb.EntryConfChange, raftpb.EntryConfChangeV2:
		default:
			return fmt.Errorf("entry of unknown type %d", e.Type)
		}
		cc, err := decodeConfChange(&e)
		if err != nil {
			return fmt.Errorf("undecodable membership change: %w", err)
		}
		if err := g.tryConfChange(cc.AsV2()); err != nil {
			return fmt.Errorf("membership change %v cannot apply: %w", cc, err)
		}
	}
	return nil
}

// decodeConfChange decodes a membership change entry of either version.
func decodeConfChange(e *raftpb.Entry) (raftpb.ConfChangeI, error) {
	if e.Type == raftpb.EntryConfChange {
		var c raftpb.ConfChange
		err := c.Unmarshal(e.Data)
		return c, err
	}
	var c raftpb.ConfChangeV2
	err := c.Unmarshal(e.Data)
	return c, err
}

// tryConfChange runs cc through raft's own change logic on a copy of the
// current configuration: the one a change applies to when it commits,
// and the one a leader judges a proposal by. Only a leader appends a
// proposal; a follower forwards it and the leader judges it.
func (g *Group) tryConfChange(cc raftpb.ConfChangeV2) error {
	if g.rn.BasicStatus().RaftState != raft.StateLeader {
		return nil
	}
	return g.checkConfChange(cc)
}

// checkConfChange reports whether raft can apply cc to the group's
// current configuration; raft panics on one it cannot.
func (g *Group) checkConfChange(cc raftpb.ConfChangeV2) error {
	if cc.Transition < 0 || cc.Transition > raftpb.ConfChangeTransitionJointExplicit {
		// raft's own accessors panic on it
		return fmt.Errorf("unknown transition %d", cc.Transition)
	}
	st := g.rn.Status()
	cfg := st.Config.Clone()
	// The changer checks that every member has a progress entry, and
	// learners' say so; nothing else of them matters to it.
	progress := tracker.ProgressMap{}
	for id := range cfg.Voters.IDs() {
		progress[id] = &tracker.Progress{}
	}
	for id := range cfg.Learners {
		progress[id] = &tracker.Progress{IsLearner: true}
	}
	trk := tracker.MakeProgressTracker(1, 0)
	trk.Config = cfg
	trk.Progress = progress
	ch := confchange.Changer{Tracker: trk, LastIndex: 1}
	var err error
	switch autoLeave, joint := cc.EnterJoint(); {
	case cc.LeaveJoint():
		_, _, err = ch.LeaveJoint()
	case joint:
		_, _, err = ch.EnterJoint(autoLeave, cc.Changes...)
	default:
		_, _, err = ch.Simple(cc.Changes...)
	}
	return err
}

// refuse counts and logs a message admit refused; the log is held to one
// line a second per group, since a peer that sends one such message
// likely sends many.
func (g *Group) refuse(m *raftpb.Message, err error) {
	g.sched.metrics.refusedMsgs.Inc()
	if now := time.Now(); now.Sub(g.lastRefusal) >= time.Second {
		g.lastRefusal = now
		g.lg.Warn("refusing a raft message no correct peer sends", "from", m.From, "type", m.Type.String(), "term", m.Term, "reason", err)
	}
}
