package replication

import (
	"slices"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
)

// Only the messages that vouch for this replica's disk wait for the
// fsync; everything else may leave before it, in its original order.
func TestSplitByDurability(t *testing.T) {
	for _, tc := range []struct {
		name        string
		in          []raftpb.MessageType
		early, late []raftpb.MessageType
	}{
		{"none", nil, nil, nil},
		{"leader round",
			[]raftpb.MessageType{raftpb.MsgApp, raftpb.MsgHeartbeat, raftpb.MsgApp, raftpb.MsgReadIndexResp},
			[]raftpb.MessageType{raftpb.MsgApp, raftpb.MsgHeartbeat, raftpb.MsgApp, raftpb.MsgReadIndexResp}, nil},
		{"follower round",
			[]raftpb.MessageType{raftpb.MsgHeartbeatResp, raftpb.MsgAppResp, raftpb.MsgProp, raftpb.MsgReadIndex},
			[]raftpb.MessageType{raftpb.MsgHeartbeatResp, raftpb.MsgProp, raftpb.MsgReadIndex},
			[]raftpb.MessageType{raftpb.MsgAppResp}},
		{"election",
			[]raftpb.MessageType{raftpb.MsgPreVote, raftpb.MsgPreVoteResp, raftpb.MsgVote, raftpb.MsgVoteResp},
			[]raftpb.MessageType{raftpb.MsgPreVote, raftpb.MsgVote},
			[]raftpb.MessageType{raftpb.MsgPreVoteResp, raftpb.MsgVoteResp}},
		{"transfer and snapshot",
			[]raftpb.MessageType{raftpb.MsgSnap, raftpb.MsgTimeoutNow},
			[]raftpb.MessageType{raftpb.MsgSnap, raftpb.MsgTimeoutNow}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var msgs []raftpb.Message
			for i, typ := range tc.in {
				msgs = append(msgs, raftpb.Message{Type: typ, Index: uint64(i)})
			}
			early, late := splitByDurability(msgs)
			types := func(ms []raftpb.Message) []raftpb.MessageType {
				var out []raftpb.MessageType
				for _, m := range ms {
					out = append(out, m.Type)
				}
				return out
			}
			if !slices.Equal(types(early), tc.early) || !slices.Equal(types(late), tc.late) {
				t.Fatalf("early %v late %v, want early %v late %v", types(early), types(late), tc.early, tc.late)
			}
			for _, part := range [][]raftpb.Message{early, late} {
				if !slices.IsSortedFunc(part, func(a, b raftpb.Message) int { return int(a.Index) - int(b.Index) }) {
					t.Fatalf("order not kept: %v", part)
				}
			}
		})
	}
}
