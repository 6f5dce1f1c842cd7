package replication

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cairnkv/cairn/storage"
	"github.com/cockroachdb/pebble/v2"
	"go.etcd.io/raft/v3/raftpb"
)

// counterSM is a minimal state machine: it counts applied entries and
// returns the count, persisting it with the applied index.
type counterSM struct {
	db      *storage.DB
	key     []byte
	mu      sync.Mutex
	applied uint64
	count   uint64
	work    uint64
}

func newCounterSM(db *storage.DB, g storage.GroupID) *counterSM {
	sm := &counterSM{db: db, key: append(storage.GroupPrefix(g), 'S')}
	if v, closer, err := db.Get(sm.key); err == nil {
		sm.applied, sm.count = binary.BigEndian.Uint64(v), binary.BigEndian.Uint64(v[8:])
		closer.Close()
	}
	sm.work = sm.count
	return sm
}

func (s *counterSM) Applied() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.applied
}

func (s *counterSM) Apply(b *pebble.Batch, data []byte) (any, error) {
	s.work++
	return s.work, nil
}

func (s *counterSM) SetApplied(b *pebble.Batch, index uint64) error {
	s.mu.Lock()
	s.applied = index
	s.mu.Unlock()
	v := binary.BigEndian.AppendUint64(nil, index)
	return b.Set(s.key, binary.BigEndian.AppendUint64(v, s.work), nil)
}

func (s *counterSM) Committed() {
	s.mu.Lock()
	s.count = s.work
	s.mu.Unlock()
}

func (s *counterSM) Abort() {
	s.mu.Lock()
	s.work = s.count
	s.mu.Unlock()
}

func (s *counterSM) Reload() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, closer, err := s.db.Get(s.key); err == nil {
		s.applied, s.count = binary.BigEndian.Uint64(v), binary.BigEndian.Uint64(v[8:])
		closer.Close()
	}
	s.work = s.count
	return nil
}

func (s *counterSM) Count() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count
}

// memNet is an in-process transport between schedulers; a node can be
// cut off (its messages in both directions are dropped), and messages
// can be dropped by a filter.
type memNet struct {
	mu    sync.Mutex
	nodes map[uint64]*Scheduler
	down  map[uint64]bool
	drop  func(raftpb.Message) bool
	sent  int
}

// cut cuts a node off (or reconnects it) and, as the node's failure
// detector would, tells every scheduler which of its peers are down: the
// others see it down; it sees all of them down.
func (n *memNet) cut(id uint64, down bool) {
	n.mu.Lock()
	n.down[id] = down
	views := map[*Scheduler]map[uint64]bool{}
	for self, s := range n.nodes {
		v := map[uint64]bool{}
		for other := range n.nodes {
			if other != self && (n.down[other] || n.down[self]) {
				v[other] = true
			}
		}
		views[s] = v
	}
	n.mu.Unlock()
	for s, v := range views {
		s.SetPeersDown(v)
	}
}

type memTransport struct {
	net  *memNet
	self uint64
}

func (t memTransport) Send(group storage.GroupID, msgs []raftpb.Message) {
	t.net.mu.Lock()
	defer t.net.mu.Unlock()
	if t.net.down[t.self] {
		return
	}
	for _, m := range msgs {
		if t.net.down[m.To] || (t.net.drop != nil && t.net.drop(m)) {
			continue
		}
		t.net.sent++
		to, from := t.net.nodes[m.To], t.net.nodes[t.self]
		if to == nil {
			continue
		}
		if m.Type == raftpb.MsgSnap {
			// What a transport does with a snapshot: stream the state
			// from the sender, stage it at the receiver, deliver the
			// message, report the outcome.
			go func() {
				src, _ := from.Group(group)
				dst, _ := to.Group(group)
				r, err := src.OpenSnapshot(m.Snapshot.Metadata.Index)
				if err == nil {
					err = dst.StageSnapshot(m.Snapshot.Metadata.Index, r)
					r.Close()
				}
				if err == nil {
					err = to.Deliver(group, m)
				}
				src.ReportSnapshot(m.To, err != nil)
			}()
			continue
		}
		_ = to.Deliver(group, m)
	}
}

type testNode struct {
	id    uint64
	db    *storage.DB
	sched *Scheduler
	sm    *counterSM
	g     *Group
}

func newMemNet() *memNet {
	return &memNet{nodes: map[uint64]*Scheduler{}, down: map[uint64]bool{}}
}

// startReplica starts node id's scheduler on net, quiet and with 10 ms
// ticks, and adds group 7 to it as gc says.
func startReplica(t *testing.T, net *memNet, id uint64, gc GroupConfig) (*Scheduler, *Group) {
	t.Helper()
	cfg := DefaultConfig(id)
	cfg.TickInterval = 10 * time.Millisecond
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	s := NewScheduler(cfg, memTransport{net: net, self: id})
	net.mu.Lock()
	net.nodes[id] = s
	net.mu.Unlock()
	gc.ID = 7
	g, err := s.AddGroup(gc)
	if err != nil {
		t.Fatal(err)
	}
	return s, g
}

func startCluster(t testing.TB, ids []uint64, tune ...func(*Config)) (*memNet, map[uint64]*testNode) {
	t.Helper()
	net, nodes, stop := newCluster(t, ids, tune...)
	t.Cleanup(stop)
	return net, nodes
}

// newCluster starts a group on ids, each in a scheduler of its own, and
// returns what stops them all.
func newCluster(t testing.TB, ids []uint64, tune ...func(*Config)) (*memNet, map[uint64]*testNode, func()) {
	t.Helper()
	net := newMemNet()
	nodes := map[uint64]*testNode{}
	const group storage.GroupID = 7
	for _, id := range ids {
		db, err := storage.Open(storage.Options{InMemory: true})
		if err != nil {
			t.Fatal(err)
		}
		cfg := DefaultConfig(id)
		cfg.TickInterval = 10 * time.Millisecond
		cfg.Logger = slog.New(slog.NewTextHandler(testLogOut(), &slog.HandlerOptions{Level: slog.LevelDebug})).With("id", id)
		for _, f := range tune {
			f(&cfg)
		}
		s := NewScheduler(cfg, memTransport{net: net, self: id})
		net.mu.Lock()
		net.nodes[id] = s
		net.mu.Unlock()
		sm := newCounterSM(db, group)
		g, err := s.AddGroup(GroupConfig{ID: group, DB: db, SM: sm, Voters: ids})
		if err != nil {
			t.Fatal(err)
		}
		nodes[id] = &testNode{id: id, db: db, sched: s, sm: sm, g: g}
	}
	return net, nodes, func() {
		for _, n := range nodes {
			n.sched.Close()
			_ = n.db.Close()
		}
	}
}

func waitLeader(t testing.TB, nodes map[uint64]*testNode, except uint64) uint64 {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for id, n := range nodes {
			if id != except && n.g.IsLeader() {
				return id
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("no leader elected")
	return 0
}

// warmCluster starts three voters, waits for a leader and commits one
// entry through it, so that it replicates to both followers.
func warmCluster(t testing.TB) (*memNet, map[uint64]*testNode, uint64) {
	t.Helper()
	net, nodes := startCluster(t, []uint64{1, 2, 3})
	lead := waitLeader(t, nodes, 0)
	if _, err := nodes[lead].g.Propose(ctx10(t), []byte("warm-up")); err != nil {
		t.Fatal(err)
	}
	return net, nodes, lead
}

func ctx10(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// A group with three voters elects a leader, accepts proposals made on
// any replica (followers forward them), and every replica applies the
// same entries.
func TestThreeVoters(t *testing.T) {
	_, nodes := startCluster(t, []uint64{1, 2, 3})
	waitLeader(t, nodes, 0)
	ctx := ctx10(t)
	var total uint64
	for round := 0; round < 10; round++ {
		for _, n := range nodes {
			out, err := n.g.Propose(ctx, []byte(fmt.Sprintf("p%d", round)))
			if err != nil {
				t.Fatalf("propose on node %d: %v", n.id, err)
			}
			total++
			if got := out.Result.(uint64); got < 1 || got > total {
				t.Fatalf("result %d out of range (total %d)", got, total)
			}
		}
	}
	for _, n := range nodes {
		if err := n.g.LinearizableBarrier(ctx); err != nil {
			t.Fatalf("barrier on node %d: %v", n.id, err)
		}
		if c := n.sm.Count(); c != total {
			t.Fatalf("node %d applied %d entries, want %d", n.id, c, total)
		}
	}
}

// When the leader is cut off, the other two elect a new leader within a
// few election timeouts and keep committing; the old leader's pending
// proposal does not succeed, and after it rejoins it catches up.
func TestLeaderLossAndRejoin(t *testing.T) {
	net, nodes := startCluster(t, []uint64{1, 2, 3})
	old := waitLeader(t, nodes, 0)
	ctx := ctx10(t)
	for i := 0; i < 5; i++ {
		if _, err := nodes[old].g.Propose(ctx, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	net.cut(old, true)
	short, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	_, err := nodes[old].g.Propose(short, []byte("lost"))
	cancel()
	if err == nil {
		t.Fatal("a proposal on a cut-off leader succeeded")
	}
	start := time.Now()
	nl := waitLeader(t, nodes, old)
	if _, err := nodes[nl].g.Propose(ctx, []byte("after")); err != nil {
		t.Fatalf("propose on new leader: %v", err)
	}
	t.Logf("new leader %d committing %v after the cut", nl, time.Since(start))
	net.cut(old, false)
	want := nodes[nl].sm.Count()
	deadline := time.Now().Add(10 * time.Second)
	for nodes[old].sm.Count() < want {
		if time.Now().After(deadline) {
			t.Fatalf("old leader applied %d, want %d", nodes[old].sm.Count(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A read barrier on a cut-off replica cannot complete (no quorum), so a
// read served after it could not be stale.
func TestReadIndexNeedsQuorum(t *testing.T) {
	net, nodes := startCluster(t, []uint64{1, 2, 3})
	leader := waitLeader(t, nodes, 0)
	ctx := ctx10(t)
	if err := nodes[leader].g.LinearizableBarrier(ctx); err != nil {
		t.Fatal(err)
	}
	net.cut(leader, true)
	short, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	err := nodes[leader].g.LinearizableBarrier(short)
	if err == nil {
		t.Fatal("read barrier on a cut-off leader succeeded")
	}
	if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, ErrNotLeader) {
		t.Fatalf("unexpected error: %v", err)
	}
}

// Leadership moves on request.
func TestTransferLeadership(t *testing.T) {
	_, nodes := startCluster(t, []uint64{1, 2, 3})
	old := waitLeader(t, nodes, 0)
	target := old%3 + 1
	nodes[old].g.TransferLeadership(target)
	deadline := time.Now().Add(5 * time.Second)
	for !nodes[target].g.IsLeader() {
		if time.Now().After(deadline) {
			t.Fatalf("leadership did not move from %d to %d", old, target)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A follower cut off while the leader truncates its log catches up by
// snapshot: the leader streams its state at its applied index, the
// follower installs it and continues from the log.
func TestSnapshotCatchUp(t *testing.T) {
	net, nodes := startCluster(t, []uint64{1, 2, 3}, func(c *Config) {
		c.CompactEvery, c.CompactKeep = 50, 10
	})
	leader := waitLeader(t, nodes, 0)
	lagger := leader%3 + 1
	ctx := ctx10(t)
	net.cut(lagger, true)
	for i := 0; i < 300; i++ {
		if _, err := nodes[leader].g.Propose(ctx, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if first, _, _ := nodes[leader].g.Log().Stats(); first < 100 {
		t.Fatalf("leader log not truncated (first index %d)", first)
	}
	net.cut(lagger, false)
	want := nodes[leader].sm.Count()
	deadline := time.Now().Add(10 * time.Second)
	for nodes[lagger].sm.Count() < want {
		if time.Now().After(deadline) {
			t.Fatalf("lagging node applied %d, want %d", nodes[lagger].sm.Count(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if first, _, _ := nodes[lagger].g.Log().Stats(); first < 100 {
		t.Fatalf("lagging node caught up without a snapshot (first index %d)", first)
	}
	// And it keeps working as a replica afterwards.
	if _, err := nodes[lagger].g.Propose(ctx, []byte("after")); err != nil {
		t.Fatal(err)
	}
}

// Reads asked on every replica at once each get their own ReadIndex round
// at the leader: the leader ignores a request whose context equals one it
// has pending, so contexts must differ between nodes (they once were a
// per-group counter starting at 1 everywhere, and all but one of the
// first reads of a new group waited out a retry).
func TestReadIndexOnEveryReplicaAtOnce(t *testing.T) {
	_, nodes := startCluster(t, []uint64{1, 2, 3})
	waitLeaderKnown(t, nodes)
	// Well under one retry round (two election timeouts, 200ms here).
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	errs := make(chan error, len(nodes))
	for _, n := range nodes {
		go func() { errs <- n.g.LinearizableBarrier(ctx) }()
	}
	for range nodes {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// Raft refuses proposals while a leadership transfer is under way; they
// wait for it to end (here it times out: the target is cut off) instead
// of failing, and commit.
func TestProposalsWaitOutLeadershipTransfer(t *testing.T) {
	net, nodes, leader := warmCluster(t)
	ctx := ctx10(t)
	startDoomedTransfer(t, net, nodes, leader, leader%3+1)
	for i := range 5 {
		if _, err := nodes[leader].g.Propose(ctx, fmt.Appendf(nil, "during %d", i)); err != nil {
			t.Fatalf("proposal during a leadership transfer: %v", err)
		}
	}
}

// A proposal a follower forwards to a leader in the middle of a
// leadership transfer is held by the leader, not dropped: when the
// transfer is abandoned (the target is cut off), the leader appends it
// and it commits, instead of its proposer waiting for its timeout.
func TestForwardedProposalsOutliveAnAbandonedTransfer(t *testing.T) {
	net, nodes := startCluster(t, []uint64{1, 2, 3})
	leader := waitLeader(t, nodes, 0)
	target, fwd := leader%3+1, (leader+1)%3+1
	if _, err := nodes[fwd].g.Propose(ctx10(t), []byte("warm up")); err != nil {
		t.Fatal(err)
	}
	startDoomedTransfer(t, net, nodes, leader, target)
	// Well under the request timeout a dropped proposal would wait for,
	// well over the election timeout (100 ms) that ends the transfer.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	for i := range 5 {
		if _, err := nodes[fwd].g.Propose(ctx, fmt.Appendf(nil, "forwarded during %d", i)); err != nil {
			t.Fatalf("proposal forwarded during an abandoned leadership transfer: %v", err)
		}
	}
	if !nodes[leader].g.IsLeader() {
		t.Fatalf("leadership moved from %d although the target was cut off", leader)
	}
}

// startDoomedTransfer cuts target off and has leader start handing its
// leadership to it; the transfer is under way on return and will be
// abandoned an election timeout later.
func startDoomedTransfer(t *testing.T, net *memNet, nodes map[uint64]*testNode, leader, target uint64) {
	t.Helper()
	net.mu.Lock()
	net.down[target] = true
	net.mu.Unlock()
	nodes[leader].g.TransferLeadership(target)
	waitFor(t, 5*time.Second, "transfer under way", func() bool {
		return nodes[leader].g.Status().LeadTransferee == target
	})
}

// testLogOut is where test nodes log: nowhere; stderr with
// CAIRN_TEST_LOG set; or, with CAIRN_TEST_LOG set to a directory, a file
// there per process (a fuzzing worker's stderr is not shown).
func testLogOut() io.Writer {
	if os.Getenv("CAIRN_TEST_LOG") == "" {
		return io.Discard
	}
	if f := testLogFile("test"); f != nil {
		return f
	}
	return os.Stderr
}

// testLogFile creates NAME-PID.log in the directory CAIRN_TEST_LOG names,
// or returns nil when it names none.
func testLogFile(name string) *os.File {
	dir := os.Getenv("CAIRN_TEST_LOG")
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil
	}
	f, err := os.Create(filepath.Join(dir, fmt.Sprintf("%s-%d.log", name, os.Getpid())))
	if err != nil {
		return nil
	}
	return f
}
