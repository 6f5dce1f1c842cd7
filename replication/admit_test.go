package replication

import (
	"strings"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
)

// Each message raft would panic on is refused before it reaches raft;
// its well-formed neighbour is let through.
func TestAdmit(t *testing.T) {
	_, nodes, lead := warmCluster(t)
	follow := lead%3 + 1
	caughtUp(t, nodes, lead, follow)
	last, err := nodes[follow].g.log.LastIndex()
	if err != nil {
		t.Fatal(err)
	}
	term := nodes[lead].g.term.Load()
	other := follow%3 + 1 // a voter that is not the follower; may be the leader
	if other == lead {
		other = other%3 + 1
	}
	confEntry := func(cc raftpb.ConfChangeV2) raftpb.Entry {
		b, err := cc.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return raftpb.Entry{Type: raftpb.EntryConfChangeV2, Data: b}
	}
	removeAll := confEntry(raftpb.ConfChangeV2{Changes: []raftpb.ConfChangeSingle{
		{Type: raftpb.ConfChangeRemoveNode, NodeID: 1}, {Type: raftpb.ConfChangeRemoveNode, NodeID: 2}, {Type: raftpb.ConfChangeRemoveNode, NodeID: 3}}})
	addLearner := confEntry(raftpb.ConfChangeV2{Changes: []raftpb.ConfChangeSingle{{Type: raftpb.ConfChangeAddLearnerNode, NodeID: 9}}})
	snap := func(cs raftpb.ConfState) *raftpb.Snapshot {
		return &raftpb.Snapshot{Metadata: raftpb.SnapshotMetadata{Index: last + 10, Term: term, ConfState: cs}}
	}
	ents := func(first, term uint64, n int) []raftpb.Entry {
		var es []raftpb.Entry
		for i := range n {
			es = append(es, raftpb.Entry{Index: first + uint64(i), Term: term})
		}
		return es
	}

	for _, tc := range []struct {
		name    string
		toLead  bool
		m       raftpb.Message
		refused string // "" for admitted
	}{
		{"heartbeat within the log", false, raftpb.Message{Type: raftpb.MsgHeartbeat, From: lead, Term: term, Commit: last}, ""},
		{"heartbeat committing past the log", false, raftpb.Message{Type: raftpb.MsgHeartbeat, From: lead, Term: term, Commit: last + 1}, "beyond this replica's last index"},
		{"message in this node's name", false, raftpb.Message{Type: raftpb.MsgVote, From: follow, Term: term + 1}, "claims to come from this node"},
		{"transfer naming the leader", true, raftpb.Message{Type: raftpb.MsgTransferLeader, From: lead, Term: term}, ""},
		{"transfer to a follower", false, raftpb.Message{Type: raftpb.MsgTransferLeader, From: other, Term: term}, "does not lead"},
		{"term beyond reach", false, raftpb.Message{Type: raftpb.MsgHeartbeat, From: lead, Term: 1 << 62}, "beyond reach"},
		{"vote without a term", false, raftpb.Message{Type: raftpb.MsgPreVote, From: other}, "with term 0"},
		{"proposal with a term", true, raftpb.Message{Type: raftpb.MsgProp, From: follow, Term: term, Entries: []raftpb.Entry{{Data: []byte("x")}}}, "with term"},
		{"proposal", true, raftpb.Message{Type: raftpb.MsgProp, From: follow, Entries: []raftpb.Entry{{Data: []byte("x")}}}, ""},
		{"empty proposal", true, raftpb.Message{Type: raftpb.MsgProp, From: follow}, "empty proposal"},
		{"undecodable membership change", true, raftpb.Message{Type: raftpb.MsgProp, From: follow, Entries: []raftpb.Entry{{Type: raftpb.EntryConfChange, Data: []byte{0xff}}}}, "undecodable"},
		{"membership change removing every voter", true, raftpb.Message{Type: raftpb.MsgProp, From: follow, Entries: []raftpb.Entry{removeAll}}, "cannot apply"},
		{"same change at a follower (its leader judges)", false, raftpb.Message{Type: raftpb.MsgProp, From: other, Entries: []raftpb.Entry{removeAll}}, ""},
		{"membership change adding a learner", true, raftpb.Message{Type: raftpb.MsgProp, From: follow, Entries: []raftpb.Entry{addLearner}}, ""},
		{"unknown transition", true, raftpb.Message{Type: raftpb.MsgProp, From: follow, Entries: []raftpb.Entry{confEntry(raftpb.ConfChangeV2{Transition: 7})}}, "unknown transition"},
		{"negative transition", true, raftpb.Message{Type: raftpb.MsgProp, From: follow, Entries: []raftpb.Entry{confEntry(raftpb.ConfChangeV2{Transition: -2})}}, "unknown transition"},
		{"entry of unknown type", true, raftpb.Message{Type: raftpb.MsgProp, From: follow, Entries: []raftpb.Entry{{Type: 5}}}, "unknown type"},
		{"read request", true, raftpb.Message{Type: raftpb.MsgReadIndex, From: follow, Entries: []raftpb.Entry{{Data: []byte("ctx")}}}, ""},
		{"read request without its context", true, raftpb.Message{Type: raftpb.MsgReadIndex, From: follow}, "0 entries"},
		{"append", false, raftpb.Message{Type: raftpb.MsgApp, From: lead, Term: term, Index: last, LogTerm: term, Entries: ents(last+1, term, 3)}, ""},
		{"append with a gap", false, raftpb.Message{Type: raftpb.MsgApp, From: lead, Term: term, Index: last, LogTerm: term, Entries: ents(last+2, term, 1)}, "want"},
		{"append whose terms fall", false, raftpb.Message{Type: raftpb.MsgApp, From: lead, Term: term, Index: last, LogTerm: term, Entries: ents(last+1, term-1, 1)}, "after term"},
		{"append beyond its own term", false, raftpb.Message{Type: raftpb.MsgApp, From: lead, Term: term, Index: last, LogTerm: term, Entries: ents(last+1, term+1, 1)}, "in a message of term"},
		{"snapshot", false, raftpb.Message{Type: raftpb.MsgSnap, From: lead, Term: term, Snapshot: snap(raftpb.ConfState{Voters: []uint64{1, 2, 3}})}, ""},
		{"snapshot message without one", false, raftpb.Message{Type: raftpb.MsgSnap, From: lead, Term: term}, "without a snapshot"},
		{"snapshot of a group without voters", false, raftpb.Message{Type: raftpb.MsgSnap, From: lead, Term: term, Snapshot: snap(raftpb.ConfState{Learners: []uint64{1, 2, 3}})}, "cannot be restored"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			to := follow
			if tc.toLead {
				to = lead
			}
			g := nodes[to].g
			m := tc.m
			m.To = to
			g.sched.lockGroup(g)
			err := g.admit(&m)
			g.sched.unlockGroup(g)
			switch {
			case tc.refused == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.refused != "" && err == nil:
				t.Fatalf("admitted, want refused (%q)", tc.refused)
			case err != nil && !strings.Contains(err.Error(), tc.refused):
				t.Fatalf("refused for %q, want %q", err, tc.refused)
			}
		})
	}
}

// A membership change that cannot apply, forged into a follower's log
// and committed in the same message, stops that replica's group (raft
// would panic, and take the node with it); the other replicas go on.
func TestForgedMembershipChangeStopsOnlyItsGroup(t *testing.T) {
	_, nodes, lead := warmCluster(t)
	follow := lead%3 + 1
	g := nodes[follow].g
	caughtUp(t, nodes, lead, follow) // the forged entry goes after the leader's
	last, err := g.log.LastIndex()
	if err != nil {
		t.Fatal(err)
	}
	term := nodes[lead].g.term.Load()
	lastTerm, err := g.log.Term(last)
	if err != nil {
		t.Fatal(err)
	}
	var leaveJoint raftpb.ConfChangeV2 // leaves a joint configuration the group is not in
	leave, err := leaveJoint.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	m := raftpb.Message{Type: raftpb.MsgApp, From: lead, To: follow, Term: term + 1, Index: last, LogTerm: lastTerm,
		Commit: last + 1, Entries: []raftpb.Entry{{Index: last + 1, Term: term + 1, Type: raftpb.EntryConfChangeV2, Data: leave}}}
	if err := nodes[follow].sched.Deliver(7, m); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the follower's group to stop", func() bool { return g.failed.Load() })

	live := map[uint64]*testNode{}
	for id, n := range nodes {
		if id != follow {
			live[id] = n
		}
	}
	ctx := ctx10(t)
	for {
		l := waitLeader(t, live, 0)
		if _, err := live[l].g.Propose(ctx, []byte("after")); err == nil {
			break
		} else if ctx.Err() != nil {
			t.Fatalf("the other replicas no longer commit: %v", err)
		}
	}
}

// caughtUp waits until follow has applied all that lead has.
func caughtUp(t *testing.T, nodes map[uint64]*testNode, lead, follow uint64) {
	t.Helper()
	waitFor(t, 10*time.Second, "the follower to catch up", func() bool {
		return nodes[follow].g.applied.Load() == nodes[lead].g.applied.Load()
	})
}
