package replication

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
)

// orphanSetup starts three voters and names the leader, a follower whose
// proposals are forwarded to it, and the other follower.
func orphanSetup(t *testing.T) (net *memNet, nodes map[uint64]*testNode, leader, fwd, other uint64) {
	t.Helper()
	net, nodes = startCluster(t, []uint64{1, 2, 3})
	leader = waitLeader(t, nodes, 0)
	fwd, other = leader%3+1, (leader+1)%3+1
	if _, err := nodes[fwd].g.Propose(ctx10(t), []byte("warm up")); err != nil {
		t.Fatal(err)
	}
	return net, nodes, leader, fwd, other
}

// proposeLost proposes payload on fwd, whose forwarding of it to leader
// the network drops, and returns once it was dropped.
func proposeLost(t *testing.T, net *memNet, fwd *testNode, leader uint64, payload string) func(context.Context) (Outcome, error) {
	t.Helper()
	var dropped atomic.Bool
	net.mu.Lock()
	net.drop = func(m raftpb.Message) bool {
		if m.From == fwd.id && m.To == leader && m.Type == raftpb.MsgProp {
			dropped.Store(true)
			return true
		}
		return false
	}
	net.mu.Unlock()
	wait := fwd.g.ProposeAsync([]byte(payload))
	waitFor(t, 5*time.Second, "the proposal forwarded to the leader (and dropped)", dropped.Load)
	return wait
}

// A proposal forwarded to a leader that hands over before the entry
// reaches the proposer's replica is not lost: the new leader has the
// whole log (a transfer waits for that) and its first append brings the
// entry, so the proposal succeeds rather than failing as "outcome
// unknown".
func TestForwardedProposalOutlivesLeaderChange(t *testing.T) {
	net, nodes, leader, fwd, other := orphanSetup(t)
	// The old leader's appends never reach the proposer.
	net.mu.Lock()
	net.drop = func(m raftpb.Message) bool {
		return m.From == leader && m.To == fwd && m.Type == raftpb.MsgApp
	}
	net.mu.Unlock()
	before := nodes[leader].sm.Count()
	wait := nodes[fwd].g.ProposeAsync([]byte("forwarded"))
	waitFor(t, 5*time.Second, "entry committed by the leader and the other follower", func() bool {
		return nodes[leader].sm.Count() > before && nodes[other].sm.Count() > before
	})
	nodes[leader].g.TransferLeadership(other)
	out, err := wait(ctx10(t))
	if err != nil {
		t.Fatalf("forwarded proposal after a leadership transfer: %v", err)
	}
	if out.Index == 0 {
		t.Fatalf("no index in %+v", out)
	}
	if !nodes[other].g.IsLeader() {
		t.Fatalf("leadership did not move to %d", other)
	}
}

// A forwarded proposal that never reached the old leader fails with
// ErrLeaderChanged soon after the change, not at its caller's deadline.
func TestForwardedProposalLostWithLeaderFailsSoon(t *testing.T) {
	net, nodes, leader, fwd, other := orphanSetup(t)
	wait := proposeLost(t, net, nodes[fwd], leader, "lost")
	nodes[leader].g.TransferLeadership(other)
	waitFor(t, 5*time.Second, "the proposer sees the new leader", func() bool {
		return nodes[fwd].g.Leader() == other
	})
	changed := time.Now()
	_, err := wait(ctx10(t))
	if !errors.Is(err, ErrLeaderChanged) {
		t.Fatalf("proposal lost with the old leader: got %v, want ErrLeaderChanged", err)
	}
	if d := time.Since(changed); d > 3*time.Second {
		t.Fatalf("failed %s after the leader change; want about an election timeout", d)
	}
}

// A proposal forwarded to a leader that then dies fails as soon as the
// new leader's first entries reach the proposer without it, well before
// the election-timeout grace, so the client retries at once.
func TestForwardedProposalToDeadLeaderFailsAtNewLeadersFirstAppend(t *testing.T) {
	// A 1 s election timeout: the grace the fast path must beat.
	net, nodes := startCluster(t, []uint64{1, 2, 3}, func(c *Config) { c.ElectionTicks = 100 })
	leader := waitLeader(t, nodes, 0)
	fwd := leader%3 + 1
	if _, err := nodes[fwd].g.Propose(ctx10(t), []byte("warm up")); err != nil {
		t.Fatal(err)
	}
	wait := proposeLost(t, net, nodes[fwd], leader, "to the dying leader")
	net.cut(leader, true)
	var elected time.Time
	waitFor(t, 10*time.Second, "a new leader, seen by the proposer", func() bool {
		l := nodes[fwd].g.Leader()
		if l != 0 && l != leader {
			elected = time.Now()
			return true
		}
		return false
	})
	_, err := wait(ctx10(t))
	if !errors.Is(err, ErrLeaderChanged) {
		t.Fatalf("got %v, want ErrLeaderChanged", err)
	}
	if d := time.Since(elected); d > 600*time.Millisecond {
		t.Fatalf("failed %s after the new leader was seen; want well under the 1 s grace", d)
	}
}

// A leader that loses its leadership and wins it back in a later term
// dropped, in between, what was forwarded to it. The proposer, which sees
// the same leader again, must still fail the proposal soon (it used to
// take the leader's return as "nothing was lost" and wait for its
// caller's deadline: a late-joiner test under load stalled on hundreds of
// such waits, one after the other).
func TestForwardedProposalLostWithReelectedLeaderFailsSoon(t *testing.T) {
	net, nodes, leader, fwd, other := orphanSetup(t)
	termBefore := nodes[leader].g.Term()
	wait := proposeLost(t, net, nodes[fwd], leader, "lost")
	// The proposer hears nothing while leadership goes to the other
	// follower and back.
	net.mu.Lock()
	net.drop = func(m raftpb.Message) bool { return m.From == fwd || m.To == fwd }
	net.mu.Unlock()
	nodes[leader].g.TransferLeadership(other)
	waitFor(t, 5*time.Second, "leadership moved to the other follower", nodes[other].g.IsLeader)
	nodes[other].g.TransferLeadership(leader)
	waitFor(t, 5*time.Second, "leadership back with the first leader", func() bool {
		return nodes[leader].g.IsLeader() && nodes[leader].g.Term() > termBefore+1
	})
	net.mu.Lock()
	net.drop = nil
	net.mu.Unlock()
	healed := time.Now()
	_, err := wait(ctx10(t))
	if !errors.Is(err, ErrLeaderChanged) {
		t.Fatalf("proposal dropped by a leader re-elected later: got %v, want ErrLeaderChanged", err)
	}
	if d := time.Since(healed); d > 3*time.Second {
		t.Fatalf("failed %s after the proposer heard the leader again; want about an election timeout", d)
	}
}
