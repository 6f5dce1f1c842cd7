package replication

import (
	"slices"
	"testing"
	"time"

	"github.com/cairnkv/cairn/storage"
	"go.etcd.io/raft/v3/raftpb"
)

// A replica added to a running group starts empty, is filled by snapshot
// as a learner, is promoted, and the replica it replaces is removed: the
// group ends with the same data on the new set of voters.
func TestMembershipChangeReplacesVoter(t *testing.T) {
	net, nodes := startCluster(t, []uint64{1, 2, 3}, func(c *Config) {
		c.CompactEvery, c.CompactKeep = 50, 10
	})
	leader := waitLeader(t, nodes, 0)
	ctx := ctx10(t)
	for range 200 {
		if _, err := nodes[leader].g.Propose(ctx, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	// Node 4 joins empty.
	db, err := storage.Open(storage.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	sm := newCounterSM(db, 7)
	s, g := startReplica(t, net, 4, GroupConfig{DB: db, SM: sm, Join: true})
	nodes[4] = &testNode{id: 4, db: db, sched: s, sm: sm, g: g}

	// Membership changes may be asked of any replica: raft forwards them.
	follower := leader%3 + 1
	if err := nodes[follower].g.ChangeMembership(ctx, raftpb.ConfChangeSingle{Type: raftpb.ConfChangeAddLearnerNode, NodeID: 4}); err != nil {
		t.Fatal(err)
	}
	want := nodes[leader].sm.Count()
	for deadline := time.Now().Add(10 * time.Second); sm.Count() < want; {
		if time.Now().After(deadline) {
			t.Fatalf("learner applied %d of %d", sm.Count(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := nodes[leader].g.ChangeMembership(ctx, raftpb.ConfChangeSingle{Type: raftpb.ConfChangeAddNode, NodeID: 4}); err != nil {
		t.Fatal(err)
	}
	victim := uint64(1)
	if victim == leader {
		victim = 2
	}
	if err := nodes[leader].g.ChangeMembership(ctx, raftpb.ConfChangeSingle{Type: raftpb.ConfChangeRemoveNode, NodeID: victim}); err != nil {
		t.Fatal(err)
	}
	m := nodes[leader].g.Members()
	wantVoters := []uint64{1, 2, 3, 4}
	wantVoters = slices.DeleteFunc(wantVoters, func(id uint64) bool { return id == victim })
	if !slices.Equal(m.Voters, wantVoters) || len(m.Learners) != 0 {
		t.Fatalf("members %+v, want voters %v", m, wantVoters)
	}
	// The removed node no longer counts: cut it off and the group still
	// commits, now with node 4 in the quorum.
	net.mu.Lock()
	net.down[victim] = true
	net.mu.Unlock()
	if _, err := nodes[4].g.Propose(ctx, []byte("after")); err != nil {
		t.Fatal(err)
	}
	peers, _, ok := nodes[leader].g.LeaderView()
	if !ok || len(peers) != 3 {
		t.Fatalf("leader view %v %v", peers, ok)
	}
	// Asking again for a change already made is a no-op.
	if err := nodes[leader].g.ChangeMembership(ctx, raftpb.ConfChangeSingle{Type: raftpb.ConfChangeAddNode, NodeID: 4}); err != nil {
		t.Fatal(err)
	}
}
