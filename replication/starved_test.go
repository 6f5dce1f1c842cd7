package replication

import (
	"sync/atomic"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
)

// starve queues on g, in one go, what a group finds in its inbox after
// waiting long for a worker (a loaded node): many election timeouts of
// ticks, and the messages that arrived meanwhile.
func starve(g *Group, ticks int, msgs ...raftpb.Message) {
	g.inMu.Lock()
	g.ticks += ticks
	g.msgs = append(g.msgs, msgs...)
	g.inMu.Unlock()
	g.sched.enqueue(g)
}

// A replica that waited long for a worker reads the messages that came
// in meanwhile before it counts the time: a leader whose followers
// answered keeps its leadership, and a follower whose leader's heartbeat
// waits in its inbox does not campaign. Fed the ticks first, the leader
// failed its quorum check and the followers campaigned, over and over,
// under load.
func TestStarvedReplicaReadsItsMessagesBeforeTheClock(t *testing.T) {
	const electionTicks = 50 // 500 ms: no election for load alone
	net, nodes := startCluster(t, []uint64{1, 2, 3}, func(c *Config) {
		c.ElectionTicks = electionTicks
		c.Quiesce = false
	})
	leader := waitLeader(t, nodes, 0)
	ctx := ctx10(t)
	if _, err := nodes[leader].g.Propose(ctx, []byte("warm up")); err != nil {
		t.Fatal(err)
	}
	var preVotes atomic.Int32
	net.mu.Lock()
	net.drop = func(m raftpb.Message) bool {
		if m.Type == raftpb.MsgPreVote || m.Type == raftpb.MsgVote {
			preVotes.Add(1)
		}
		return false
	}
	net.mu.Unlock()
	term := nodes[leader].g.Term()

	t.Run("leader", func(t *testing.T) {
		var answers []raftpb.Message
		for id := range nodes {
			if id != leader {
				answers = append(answers, raftpb.Message{Type: raftpb.MsgHeartbeatResp, From: id, To: leader, Term: term})
			}
		}
		starve(nodes[leader].g, 3*electionTicks, answers...)
		// The proposal queues behind what starve queued.
		if _, err := nodes[leader].g.Propose(ctx, []byte("after")); err != nil {
			t.Fatal(err)
		}
		if got := nodes[leader].g.Term(); got != term || !nodes[leader].g.IsLeader() {
			t.Fatalf("leader %d in term %d became %d in term %d: it stepped down", leader, term, nodes[leader].g.Leader(), got)
		}
	})
	t.Run("follower", func(t *testing.T) {
		follower := leader%3 + 1
		heartbeat := raftpb.Message{Type: raftpb.MsgHeartbeat, From: leader, To: follower, Term: term}
		starve(nodes[follower].g, 3*electionTicks, heartbeat)
		if _, err := nodes[follower].g.Propose(ctx, []byte("after")); err != nil {
			t.Fatal(err)
		}
		if n := preVotes.Load(); n != 0 {
			t.Fatalf("follower %d campaigned (%d vote requests) with its leader's heartbeat in its inbox", follower, n)
		}
	})
}
