package replication

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
)

// A proposal forwarded to a leader in the middle of a leadership
// transfer that then completes is dropped by the old leader (its proposer
// may already have given up and retried), and its proposer learns so
// from the new leader's first append, not from its own timeout; it never
// commits anywhere.
func TestForwardedProposalHeldThroughACompletedTransferFailsAndNeverCommits(t *testing.T) {
	// A long election timeout: the transfer must not be abandoned while
	// the test holds it open.
	net, nodes := startCluster(t, []uint64{1, 2, 3}, func(c *Config) { c.ElectionTicks = 100 })
	leader := waitLeaderKnown(t, nodes)
	target, fwd := leader%3+1, (leader+1)%3+1
	ctx := ctx10(t)
	if _, err := nodes[fwd].g.Propose(ctx, []byte("warm up")); err != nil {
		t.Fatal(err)
	}
	// The proposer has applied the warm-up when Propose returns; the
	// leader may not have yet.
	before := nodes[fwd].sm.Count()
	waitFor(t, 5*time.Second, "every replica applied the warm-up", func() bool { return allApplied(nodes, before) })

	// Hold the transfer open: keep the leader's go-ahead to the target.
	var held []raftpb.Message
	net.mu.Lock()
	net.drop = func(m raftpb.Message) bool {
		if m.Type == raftpb.MsgTimeoutNow {
			held = append(held, m)
			return true
		}
		return false
	}
	net.mu.Unlock()
	nodes[leader].g.TransferLeadership(target)
	waitFor(t, 5*time.Second, "transfer under way", func() bool {
		net.mu.Lock()
		defer net.mu.Unlock()
		return len(held) > 0
	})

	lctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	lost := nodes[fwd].g.ProposeAsync([]byte("lost"))
	lg := nodes[leader].g
	waitFor(t, 5*time.Second, "the transferring leader holds the forwarded proposal", func() bool {
		lg.sched.lockGroup(lg)
		defer lg.sched.unlockGroup(lg)
		return len(lg.heldForwarded) == 1
	})

	// Let the transfer complete.
	net.mu.Lock()
	msgs := held
	net.drop = nil
	net.mu.Unlock()
	for _, m := range msgs {
		if err := net.nodes[target].Deliver(7, m); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := lost(lctx); !errors.Is(err, ErrLeaderChanged) {
		t.Fatalf("proposal held through a completed transfer: %v, want %v", err, ErrLeaderChanged)
	}
	if l := waitLeaderKnown(t, nodes); l != target {
		t.Fatalf("leader %d after the transfer to %d", l, target)
	}

	// Only the marker commits after the warm-up.
	if _, err := nodes[fwd].g.Propose(ctx, []byte("marker")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "every replica applied the marker", func() bool { return allApplied(nodes, before+1) })
	for id, n := range nodes {
		if c := n.sm.Count(); c != before+1 {
			t.Fatalf("node %d applied %d entries, want %d: the dropped proposal committed", id, c, before+1)
		}
	}
}
