package replication

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/cairnkv/cairn/storage"
	"github.com/cairnkv/cairn/storage/raftlog"
	"github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.etcd.io/raft/v3/raftpb"
)

// stallingSM is a counterSM whose Apply of the entry "stall" waits until
// release is closed, holding the group's worker inside a Ready round.
type stallingSM struct {
	*counterSM
	stalled chan struct{}
	release chan struct{}
}

func (s *stallingSM) Apply(b *pebble.Batch, data []byte) (any, error) {
	if string(data) == "stall" {
		close(s.stalled)
		<-s.release
	}
	return s.counterSM.Apply(b, data)
}

// A group whose only voter is this replica answers a linearizable read
// from its applied state without a round through its worker (which is
// stuck here applying an entry), and stops doing so as soon as another
// member is added: from then on reads need a ReadIndex round again.
func TestSoleVoterReadsWithoutARound(t *testing.T) {
	db, err := storage.Open(storage.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	sm := &stallingSM{counterSM: newCounterSM(db, 7), stalled: make(chan struct{}), release: make(chan struct{})}
	s, g := startReplica(t, newMemNet(), 1, GroupConfig{DB: db, SM: sm, Voters: []uint64{1}})
	t.Cleanup(func() {
		s.Close()
		_ = db.Close()
	})
	ctx := ctx10(t)
	if _, err := g.Propose(ctx, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if !g.soleLeader() {
		t.Fatal("a single-voter group's leader does not know it is the sole voter")
	}

	stalled := g.ProposeAsync([]byte("stall"))
	<-sm.stalled
	short, cancel := context.WithTimeout(ctx, time.Second)
	err = g.LinearizableBarrier(short)
	cancel()
	close(sm.release)
	if err != nil {
		t.Fatalf("read while the worker is busy: %v", err)
	}
	if _, err := stalled(ctx); err != nil {
		t.Fatal(err)
	}

	// A learner joins (its scheduler never runs the group: only the
	// leader's view matters here). Solo ends with the change's apply.
	if err := g.ChangeMembership(ctx, raftpb.ConfChangeSingle{Type: raftpb.ConfChangeAddLearnerNode, NodeID: 2}); err != nil {
		t.Fatal(err)
	}
	if g.soleLeader() {
		t.Fatal("still reading alone with a learner in the group")
	}
	if err := g.LinearizableBarrier(ctx); err != nil {
		t.Fatalf("read through a round after the change: %v", err)
	}
}

// After a restart, a lone leader reads alone only once it has applied
// what earlier terms left in its log (as raft's read index waits for an
// entry of the leader's own term): until then a read waits for a round.
func TestSoleVoterReadsAloneOnlyOnceItsLogIsApplied(t *testing.T) {
	net := newMemNet()
	db, err := storage.Open(storage.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	start := func(sm StateMachine) (*Scheduler, *Group) {
		return startReplica(t, net, 1, GroupConfig{DB: db, SM: sm, Voters: []uint64{1}})
	}
	ctx := ctx10(t)
	s1, g1 := start(newCounterSM(db, 7))
	if _, err := g1.Propose(ctx, []byte("x")); err != nil {
		t.Fatal(err)
	}
	s1.Close()

	// Leave an entry in the log that was never applied, as a crash right
	// after the round that persisted it does.
	log, err := raftlog.Open(db, 7)
	if err != nil {
		t.Fatal(err)
	}
	last, err := log.LastIndex()
	if err != nil {
		t.Fatal(err)
	}
	term, err := log.Term(last)
	if err != nil {
		t.Fatal(err)
	}
	b := db.NewBatch()
	tail := raftpb.Entry{Term: term, Index: last + 1, Type: raftpb.EntryNormal, Data: frame(9, 1, []byte("stall"))}
	if err := log.Save(b, raftpb.HardState{}, []raftpb.Entry{tail}, raftpb.Snapshot{}); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		t.Fatal(err)
	}

	sm := &stallingSM{counterSM: newCounterSM(db, 7), stalled: make(chan struct{}), release: make(chan struct{})}
	s2, g2 := start(sm)
	t.Cleanup(s2.Close)
	var releaseOnce sync.Once
	release := func() { releaseOnce.Do(func() { close(sm.release) }) }
	t.Cleanup(release) // runs first: a failing test must not leave the worker stuck
	<-sm.stalled       // the restarted leader is applying the old tail
	if g2.soleLeader() {
		t.Fatal("reading alone before the old log is applied")
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	err = g2.LinearizableBarrier(short)
	cancel()
	if err == nil {
		t.Fatal("a read went ahead of the restarted leader's unapplied log")
	}
	release()
	if err := g2.LinearizableBarrier(ctx); err != nil {
		t.Fatalf("read once the log is applied: %v", err)
	}
	if !g2.soleLeader() {
		t.Fatal("not reading alone once the log is applied")
	}
}

// A group shrunk from three voters to one reads alone once its leader has
// applied the last removal, and not before: from then on neither reads
// nor writes need the removed replicas (here cut off to prove it).
func TestShrunkToOneVoterReadsAlone(t *testing.T) {
	net, nodes := startCluster(t, []uint64{1, 2, 3})
	leader := waitLeaderKnown(t, nodes)
	lg := nodes[leader].g
	ctx := ctx10(t)
	if _, err := lg.Propose(ctx, []byte("x")); err != nil {
		t.Fatal(err)
	}
	for id := range nodes {
		if id == leader {
			continue
		}
		if lg.soleLeader() {
			t.Fatalf("reading alone while %v are voters", lg.Members())
		}
		if err := lg.ChangeMembership(ctx, raftpb.ConfChangeSingle{Type: raftpb.ConfChangeRemoveNode, NodeID: id}); err != nil {
			t.Fatal(err)
		}
	}
	if !lg.soleLeader() {
		t.Fatalf("the leader of a group shrunk to %v does not read alone", lg.Members())
	}
	for id := range nodes {
		if id != leader {
			net.cut(id, true)
		}
	}
	rounds := testutil.ToFloat64(lg.sched.metrics.readIndex)
	if err := lg.LinearizableBarrier(ctx); err != nil {
		t.Fatalf("read on the shrunk group: %v", err)
	}
	if r := testutil.ToFloat64(lg.sched.metrics.readIndex); r != rounds {
		t.Fatalf("the read made %v ReadIndex rounds, want none", r-rounds)
	}
	if _, err := lg.Propose(ctx, []byte("y")); err != nil {
		t.Fatalf("write on the shrunk group: %v", err)
	}
}
