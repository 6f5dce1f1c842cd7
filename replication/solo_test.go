package replication

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/cairnkv/cairn/storage"
	"github.com/cockroachdb/pebble/v2"
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
	net := &memNet{nodes: map[uint64]*Scheduler{}, down: map[uint64]bool{}}
	db, err := storage.Open(storage.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig(1)
	cfg.TickInterval = 10 * time.Millisecond
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	s := NewScheduler(cfg, memTransport{net: net, self: 1})
	net.nodes[1] = s
	sm := &stallingSM{counterSM: newCounterSM(db, 7), stalled: make(chan struct{}), release: make(chan struct{})}
	g, err := s.AddGroup(GroupConfig{ID: 7, DB: db, SM: sm, Voters: []uint64{1}})
	if err != nil {
		t.Fatal(err)
	}
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
