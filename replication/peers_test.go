package replication

import (
	"slices"
	"testing"
	"time"
)

// The leader reports every other replica with its progress and when it
// last heard from it; a follower reports nothing. A replica cut off
// falls behind by what is committed without it, and is no longer heard.
func TestPeersProgress(t *testing.T) {
	net, nodes, lead := warmCluster(t)
	ctx := ctx10(t)
	for id, n := range nodes {
		if _, _, ok := n.g.Peers(); ok != (id == lead) {
			t.Fatalf("node %d (leader %d): Peers ok=%v", id, lead, ok)
		}
	}
	var cut uint64
	waitFor(t, 10*time.Second, "both followers caught up and heard", func() bool {
		peers, commit, _ := nodes[lead].g.Peers()
		ids := []uint64{}
		ok := len(peers) == 2
		for _, p := range peers {
			ids = append(ids, p.ID)
			ok = ok && p.Match == commit && p.Lag == 0 && !p.Heard.IsZero() && !p.Learner
			cut = p.ID
		}
		return ok && !slices.Contains(ids, lead)
	})

	// Once the first proposal after the cut commits, the leader has fed
	// everything the cut replica sent before it: nothing more arrives.
	net.cut(cut, true)
	propose := func() {
		t.Helper()
		if _, err := nodes[lead].g.Propose(ctx, []byte("y")); err != nil {
			t.Fatal(err)
		}
	}
	propose()
	heard := func() time.Time {
		peers, _, _ := nodes[lead].g.Peers()
		for _, p := range peers {
			if p.ID == cut {
				return p.Heard
			}
		}
		t.Fatalf("replica %d missing", cut)
		return time.Time{}
	}
	last := heard()
	const writes = 5
	for range writes {
		propose()
	}
	peers, commit, ok := nodes[lead].g.Peers()
	if !ok {
		t.Fatal("the leader lost its leadership")
	}
	for _, p := range peers {
		switch {
		case p.ID == cut && (p.Lag < writes+1 || p.Match+writes+1 > commit || !p.Heard.Equal(last)):
			t.Fatalf("cut replica %+v (commit %d, heard before %v): want %d behind and not heard again", p, commit, last, writes+1)
		case p.ID != cut && (p.Match != commit || p.Lag != 0 || !p.Heard.After(last)):
			t.Fatalf("live replica %+v (commit %d): want caught up and heard since %v", p, commit, last)
		}
	}
}
