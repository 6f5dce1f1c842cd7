package replication

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
)

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// groupStates describes every replica, for failure messages.
func groupStates(nodes map[uint64]*testNode) string {
	var b bytes.Buffer
	for id := uint64(1); id <= uint64(len(nodes)); id++ {
		n, ok := nodes[id]
		if !ok {
			continue
		}
		st := n.g.Status()
		fmt.Fprintf(&b, "[%d: %s term %d commit %d applied %d count %d quiesced %v] ",
			id, st.RaftState, st.Term, st.Commit, st.Applied, n.sm.Count(), n.g.Quiesced())
	}
	return b.String()
}

func allQuiesced(nodes map[uint64]*testNode) bool {
	for _, n := range nodes {
		if !n.g.Quiesced() {
			return false
		}
	}
	return true
}

func allApplied(nodes map[uint64]*testNode, count uint64) bool {
	for _, n := range nodes {
		if n.sm.Count() != count {
			return false
		}
	}
	return true
}

func (n *memNet) sentCount() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.sent
}

// An idle group quiesces on every replica and then sends nothing: no
// heartbeats, no elections, however long it stays idle.
func TestQuiesceIdleGroup(t *testing.T) {
	net, nodes := startCluster(t, []uint64{1, 2, 3})
	leader := waitLeader(t, nodes, 0)
	ctx := ctx10(t)
	for range 5 {
		if _, err := nodes[leader].g.Propose(ctx, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 5*time.Second, "all replicas quiesced", func() bool { return allQuiesced(nodes) })
	sent := net.sentCount()
	// Fifty ticks, five election timeouts: an awake group would have
	// sent fifty heartbeats to each follower.
	time.Sleep(50 * 10 * time.Millisecond)
	if got := net.sentCount() - sent; got != 0 {
		t.Fatalf("a quiesced group sent %d messages", got)
	}
	if !allQuiesced(nodes) || !nodes[leader].g.IsLeader() {
		t.Fatal("the group woke up or lost its leader while idle")
	}
}

// Work wakes a quiesced group wherever it arrives: a proposal or a read
// on a follower commits on every replica, and the group quiesces again.
// The election timeout is 500 ms rather than 100 so that a loaded machine
// does not start an election the test would count as a failure.
func TestQuiescedGroupWakesOnWork(t *testing.T) {
	_, nodes := startCluster(t, []uint64{1, 2, 3}, func(c *Config) { c.ElectionTicks = 50 })
	leader := waitLeader(t, nodes, 0)
	follower := leader%3 + 1
	ctx := ctx10(t)
	if _, err := nodes[leader].g.Propose(ctx, []byte("x")); err != nil {
		t.Fatal(err)
	}
	for round := range 3 {
		waitFor(t, 5*time.Second, "all replicas quiesced", func() bool { return allQuiesced(nodes) })
		var err error
		if round == 1 {
			err = nodes[follower].g.LinearizableBarrier(ctx)
		} else {
			_, err = nodes[follower].g.Propose(ctx, []byte("y"))
		}
		if err != nil {
			t.Fatalf("round %d on a quiesced follower: %v", round, err)
		}
	}
	const want = 3 // "x", then "y" in rounds 0 and 2
	deadline := time.Now().Add(5 * time.Second)
	for !allApplied(nodes, want) || !allQuiesced(nodes) {
		if time.Now().After(deadline) {
			t.Fatalf("every replica applied %d entries and quiesced: not within 5s: %s", want, groupStates(nodes))
		}
		time.Sleep(2 * time.Millisecond)
	}
	if !nodes[leader].g.IsLeader() {
		t.Fatal("leadership changed")
	}
}

// A quiesced follower cannot see its leader die (nobody heartbeats): the
// node's failure detector tells the scheduler, and the survivors elect a
// new leader and go on committing. When the old leader returns it catches
// up and the group quiesces again.
func TestQuiescedLeaderReportedDown(t *testing.T) {
	net, nodes := startCluster(t, []uint64{1, 2, 3})
	old := waitLeader(t, nodes, 0)
	ctx := ctx10(t)
	if _, err := nodes[old].g.Propose(ctx, []byte("x")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "all replicas quiesced", func() bool { return allQuiesced(nodes) })
	start := time.Now()
	net.cut(old, true)
	nl := waitLeader(t, nodes, old)
	if _, err := nodes[nl].g.Propose(ctx, []byte("after")); err != nil {
		t.Fatal(err)
	}
	t.Logf("new leader %d committing %s after the leader was reported down", nl, time.Since(start).Round(time.Millisecond))
	// The cut-off old leader was told its peers are down: it wakes, finds
	// no quorum and steps down rather than lead on by itself.
	waitFor(t, 5*time.Second, "the cut-off leader steps down", func() bool { return !nodes[old].g.IsLeader() })
	net.cut(old, false)
	want := nodes[nl].sm.Count()
	waitFor(t, 10*time.Second, "the old leader catches up and all quiesce", func() bool {
		return nodes[old].sm.Count() == want && allQuiesced(nodes)
	})
}

// Without a failure detector's verdict, the end of the dead leader's
// connection (PeerLost) is enough for its quiesced followers to elect.
func TestQuiescedLeaderConnectionLost(t *testing.T) {
	net, nodes := startCluster(t, []uint64{1, 2, 3})
	old := waitLeader(t, nodes, 0)
	ctx := ctx10(t)
	if _, err := nodes[old].g.Propose(ctx, []byte("x")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "all replicas quiesced", func() bool { return allQuiesced(nodes) })
	net.mu.Lock()
	net.down[old] = true
	net.mu.Unlock()
	for id, n := range nodes {
		if id != old {
			n.sched.PeerLost(old)
		}
	}
	nl := waitLeader(t, nodes, old)
	if _, err := nodes[nl].g.Propose(ctx, []byte("after")); err != nil {
		t.Fatal(err)
	}
}

// Quiesce heartbeats that are lost leave a follower awake; it times out,
// its pre-vote wakes the leader (which keeps its leadership), and the
// group quiesces once a quiesce heartbeat gets through.
func TestQuiesceHeartbeatLost(t *testing.T) {
	net, nodes := startCluster(t, []uint64{1, 2, 3})
	leader := waitLeader(t, nodes, 0)
	deaf := leader%3 + 1
	dropped := 0
	net.mu.Lock()
	net.drop = func(m raftpb.Message) bool {
		if m.To == deaf && m.Type == raftpb.MsgHeartbeat && bytes.Equal(m.Context, quiesceCtx) && dropped < 3 {
			dropped++
			return true
		}
		return false
	}
	net.mu.Unlock()
	ctx := ctx10(t)
	if _, err := nodes[leader].g.Propose(ctx, []byte("x")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "all replicas quiesced despite lost quiesce heartbeats", func() bool {
		net.mu.Lock()
		defer net.mu.Unlock()
		return dropped == 3 && allQuiesced(nodes)
	})
	if !nodes[leader].g.IsLeader() {
		t.Fatal("a lost quiesce heartbeat cost the leader its leadership")
	}
}

// A peer reported down is not waited for: the leader and the live
// follower quiesce without it; when it comes back the leader wakes and
// catches it up.
func TestQuiesceWithPeerDown(t *testing.T) {
	net, nodes := startCluster(t, []uint64{1, 2, 3})
	leader := waitLeader(t, nodes, 0)
	gone := leader%3 + 1
	net.cut(gone, true)
	ctx := ctx10(t)
	for i := range 20 {
		if _, err := nodes[leader].g.Propose(ctx, fmt.Appendf(nil, "x%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 5*time.Second, "leader and live follower quiesced", func() bool {
		for id, n := range nodes {
			if id != gone && !n.g.Quiesced() {
				return false
			}
		}
		return true
	})
	net.cut(gone, false)
	want := nodes[leader].sm.Count()
	waitFor(t, 10*time.Second, "the returning follower catches up and all quiesce", func() bool {
		return nodes[gone].sm.Count() == want && allQuiesced(nodes)
	})
	short, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := nodes[gone].g.Propose(short, []byte("after")); err != nil {
		t.Fatal(err)
	}
}
