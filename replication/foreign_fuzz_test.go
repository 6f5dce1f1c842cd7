package replication

import (
	"bytes"
	"testing"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
)

// FuzzForeignRaftMessage hands a running three-voter group raft messages
// that no correct peer sends, as a peer that passed the transport's
// handshake could: any type the transport admits, with terms, indexes,
// commit points and entries that contradict the group's log. Whatever
// arrives, no replica may panic.
//
// Fields are mostly relative to the receiver's state (its term, its last
// index), so that the fuzzer reaches the interesting neighbourhoods; the
// absolute flag takes them as they are.
func FuzzForeignRaftMessage(f *testing.F) {
	type seed struct {
		toLeader          bool
		typ               uint8
		from              uint8
		absolute          bool
		term, logTerm     int64
		index, commit     int64
		reject            bool
		hint              int64
		nEnts             uint8
		entIndex, entTerm int64
		entType           uint8
		data              []byte
	}
	for _, s := range []seed{
		{typ: uint8(raftpb.MsgHeartbeat), commit: 1 << 30},                                   // commit past the log
		{typ: uint8(raftpb.MsgHeartbeat), absolute: true, term: 1 << 40, commit: 1 << 50},    // and a far future term
		{typ: uint8(raftpb.MsgApp), index: 0, nEnts: 2, entIndex: 5, entTerm: 0},             // entries not after prev
		{typ: uint8(raftpb.MsgApp), index: -1, nEnts: 1, entIndex: -3, entTerm: 1},           // entries over committed ones
		{typ: uint8(raftpb.MsgApp), index: 0, logTerm: 0, commit: 100, nEnts: 3, entTerm: 1}, // commit beyond what it sends
		{typ: uint8(raftpb.MsgApp), index: 10, nEnts: 1, entIndex: 11},                       // a gap
		{toLeader: true, typ: uint8(raftpb.MsgAppResp), index: 1 << 20},                      // acknowledges what it was never sent
		{toLeader: true, typ: uint8(raftpb.MsgAppResp), reject: true, index: 1 << 20, hint: 1 << 21},
		{toLeader: true, typ: uint8(raftpb.MsgHeartbeatResp), from: 9},
		{toLeader: true, typ: uint8(raftpb.MsgReadIndexResp), nEnts: 3},
		{toLeader: true, typ: uint8(raftpb.MsgReadIndex), nEnts: 0},
		{toLeader: true, typ: uint8(raftpb.MsgTransferLeader), from: 9},
		{typ: uint8(raftpb.MsgTimeoutNow)},
		{typ: uint8(raftpb.MsgVote), term: 1, logTerm: 1 << 20, index: 1 << 20},
		{typ: uint8(raftpb.MsgPreVote), term: 5, index: -100},
		{toLeader: true, typ: uint8(raftpb.MsgVoteResp), term: 0},
		{typ: uint8(raftpb.MsgProp), nEnts: 1, entType: uint8(raftpb.EntryConfChangeV2), data: []byte{0xff, 0x01}},
		{typ: uint8(raftpb.MsgForgetLeader)},
		{typ: 99},
	} {
		f.Add(s.toLeader, s.typ, s.from, s.absolute, s.term, s.logTerm, s.index, s.commit, s.reject, s.hint,
			s.nEnts, s.entIndex, s.entTerm, s.entType, s.data)
	}

	// One cluster serves input after input, so that messages land on
	// states earlier ones left; a cluster they left without a leader is
	// replaced.
	var nodes map[uint64]*testNode
	stop := func() {}
	f.Cleanup(func() { stop() })
	leader := func() uint64 {
		for range 200 {
			for id, n := range nodes {
				if n.g.IsLeader() {
					return id
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
		return 0
	}
	f.Fuzz(func(t *testing.T, toLeader bool, typ, from uint8, absolute bool, term, logTerm, index, commit int64,
		reject bool, hint int64, nEnts uint8, entIndex, entTerm int64, entType uint8, data []byte) {
		mt := raftpb.MessageType(typ)
		if raft.IsLocalMsg(mt) || mt == raftpb.MsgSnap {
			return // refused by the transport before a group sees it
		}
		lead := leader()
		if lead == 0 || failed(nodes) {
			stop()
			_, nodes, stop = newCluster(t, []uint64{1, 2, 3})
			lead = waitLeader(t, nodes, 0)
		}
		to := lead
		if !toLeader {
			to = lead%3 + 1
		}
		n := nodes[to]
		last, err := n.g.log.LastIndex()
		if err != nil {
			t.Fatal(err)
		}
		at := func(base uint64, v int64) uint64 {
			if absolute {
				return uint64(v)
			}
			return uint64(int64(base) + v)
		}
		cur := n.g.term.Load()
		m := raftpb.Message{
			Type:       mt,
			To:         to,
			From:       uint64(from%4) + 1, // a voter (perhaps the receiver itself) or node 4, a stranger
			Term:       at(cur, term),
			LogTerm:    at(cur, logTerm),
			Index:      at(last, index),
			Commit:     at(last, commit),
			Reject:     reject,
			RejectHint: at(last, hint),
		}
		for i := range min(nEnts, 8) {
			m.Entries = append(m.Entries, raftpb.Entry{
				Index: at(m.Index+1, entIndex) + uint64(i),
				Term:  at(cur, entTerm),
				Type:  raftpb.EntryType(entType % 3),
				Data:  bytes.Clone(data), // the fuzzer reuses data; raft may pass the entry on
			})
		}
		// The group takes the message in on this goroutine, as its
		// worker would, so that a panic is this input's.
		n.sched.lockGroup(n.g)
		defer n.sched.unlockGroup(n.g)
		n.g.inMu.Lock()
		n.g.msgs = append(n.g.msgs, m)
		n.g.inMu.Unlock()
		if err := n.g.process(); err != nil {
			// What the worker does: the group stops, the node goes on.
			n.g.fail(err)
		}
		// Nothing more can be asked: a message forged in the leader's
		// name can put entries into a follower's log that the leader
		// never wrote (raft is not built to withstand a lying peer; the
		// transport's key is what keeps strangers out), and a forged
		// membership change that cannot apply stops the group.
	})
}

// failed reports whether any replica's group has stopped.
func failed(nodes map[uint64]*testNode) bool {
	for _, n := range nodes {
		if n.g.failed.Load() {
			return true
		}
	}
	return false
}
