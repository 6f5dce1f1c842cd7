package replication

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// TestDiskLowReplica: a replica whose disk is below its reserve refuses
// its own proposals at once, takes no entries from the leader (the other
// two commit without it) and catches up once space is back; a leader
// whose disk is low takes no forwarded proposals.
func TestDiskLowReplica(t *testing.T) {
	low := map[uint64]*atomic.Bool{1: {}, 2: {}, 3: {}}
	_, nodes := startCluster(t, []uint64{1, 2, 3}, func(c *Config) { c.DiskLow = low[c.NodeID].Load })
	leader := waitLeaderKnown(t, nodes)
	ctx := ctx10(t)
	var f, other uint64
	for id := range nodes {
		if id != leader {
			if f == 0 {
				f = id
			} else {
				other = id
			}
		}
	}
	propose := func(id uint64, n int) {
		t.Helper()
		for range n {
			if _, err := nodes[id].g.Propose(ctx, []byte("x")); err != nil {
				t.Fatalf("propose on %d: %v", id, err)
			}
		}
	}
	propose(leader, 5)
	const total = 25

	low[f].Store(true)
	if _, err := nodes[f].g.Propose(ctx, []byte("refused")); !errors.Is(err, ErrDiskLow) {
		t.Fatalf("proposal on a replica with a low disk: %v, want ErrDiskLow", err)
	}
	propose(leader, total-5) // leader and the other follower are a quorum
	if got := nodes[f].sm.Count(); got >= total {
		t.Fatalf("the replica with a low disk applied %d entries, all of them", got)
	}
	// Nor does it take the leadership: a transfer to it does not happen.
	nodes[leader].g.TransferLeadership(f)
	short, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	_, err := nodes[other].g.Propose(short, []byte("during transfer"))
	cancel()
	if nodes[f].g.IsLeader() {
		t.Fatal("a replica with a low disk took the leadership handed to it")
	}
	low[f].Store(false)
	extra := uint64(0)
	if err == nil {
		extra = 1
	}
	waitCount(t, nodes[f], total+extra)

	// Whoever leads now: the transfer attempt may have moved things.
	leader = waitLeaderKnown(t, nodes)
	for id := range nodes {
		if id != leader {
			other = id
		}
	}

	// A leader with a low disk drops the proposals followers forward to it.
	low[leader].Store(true)
	short, cancel = context.WithTimeout(context.Background(), 300*time.Millisecond)
	_, err = nodes[other].g.Propose(short, []byte("dropped"))
	cancel()
	if err == nil {
		t.Fatal("a proposal forwarded to a leader with a low disk committed")
	}
	low[leader].Store(false)
	propose(other, 1)
	for _, n := range nodes {
		waitCount(t, n, total+extra+1)
	}
}

func waitCount(t *testing.T, n *testNode, want uint64) {
	t.Helper()
	waitFor(t, 10*time.Second, fmt.Sprintf("node %d applying %d entries", n.id, want), func() bool { return n.sm.Count() == want })
}
