package transport

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnkv/cairn/storage"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
)

// raftPeer drives one etcd-raft RawNode over a real Transport, the way
// replication's scheduler would: a single goroutine owns the RawNode;
// the Handler methods only hand things to it.
type raftPeer struct {
	id    uint64
	store *raft.MemoryStorage
	rn    *raft.RawNode

	inbox   chan raftpb.Message
	reports chan func(*raft.RawNode)
	props   chan string
	cmds    chan func()

	mu       sync.Mutex
	tr       *Transport
	applied  []string // the state machine: committed values in order
	index    uint64   // applied index
	leader   bool
	staged   map[uint64][]byte // snapshot index → state received
	snapshot raftpb.Snapshot   // last snapshot taken, for OpenSnapshot

	running bool // under mu
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

const raftGroup = storage.GroupID(42)

var raftVoters = raftpb.ConfState{Voters: []uint64{1, 2, 3}}

func newRaftPeer(t *testing.T, id uint64) *raftPeer {
	st := raft.NewMemoryStorage()
	// Start every node from the same conf state rather than bootstrapping
	// conf-change entries: less to drive, same raft.
	if err := st.ApplySnapshot(raftpb.Snapshot{Metadata: raftpb.SnapshotMetadata{Index: 1, Term: 1, ConfState: raftVoters}}); err != nil {
		t.Fatal(err)
	}
	rn, err := raft.NewRawNode(&raft.Config{
		ID: id, ElectionTick: 20, HeartbeatTick: 2, Storage: st, Applied: 1,
		MaxSizePerMsg: 1 << 20, MaxInflightMsgs: 256, PreVote: true, CheckQuorum: true,
		Logger: &raft.DefaultLogger{Logger: nilLogger()},
	})
	if err != nil {
		t.Fatal(err)
	}
	return &raftPeer{
		id: id, store: st, rn: rn, index: 1, staged: map[uint64][]byte{},
		inbox: make(chan raftpb.Message, 4096), reports: make(chan func(*raft.RawNode), 1024),
		props: make(chan string, 1024), cmds: make(chan func()),
	}
}

func (p *raftPeer) HandleRaft(group uint64, msgs []raftpb.Message) {
	for _, m := range msgs {
		select {
		case p.inbox <- m:
		default: // like a lossy network; raft copes
		}
	}
}

func (p *raftPeer) ReportUnreachable(group, to uint64) {
	p.report(func(rn *raft.RawNode) { rn.ReportUnreachable(to) })
}

func (p *raftPeer) ReportSnapshot(group, to uint64, failed bool) {
	status := raft.SnapshotFinish
	if failed {
		status = raft.SnapshotFailure
	}
	p.report(func(rn *raft.RawNode) { rn.ReportSnapshot(to, status) })
}

func (p *raftPeer) report(f func(*raft.RawNode)) {
	select {
	case p.reports <- f:
	default:
	}
}

func (p *raftPeer) OpenSnapshot(group uint64, meta raftpb.SnapshotMetadata) (io.ReadCloser, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.snapshot.Metadata.Index != meta.Index {
		return nil, fmt.Errorf("no snapshot at index %d", meta.Index)
	}
	return io.NopCloser(bytes.NewReader(p.snapshot.Data)), nil
}

func (p *raftPeer) ReceiveSnapshot(group uint64, msg raftpb.Message, data io.Reader) error {
	b, err := io.ReadAll(data)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.staged[msg.Snapshot.Metadata.Index] = b
	return nil
}

// start runs the driver loop until stop.
func (p *raftPeer) start(tr *Transport) {
	p.mu.Lock()
	p.tr, p.running, p.leader = tr, true, false
	p.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.loop(ctx)
	}()
}

func (p *raftPeer) stop() {
	p.cancel()
	p.wg.Wait()
	p.mu.Lock()
	p.running, p.leader = false, false
	p.mu.Unlock()
}

func (p *raftPeer) loop(ctx context.Context) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			p.rn.Tick()
		case m := <-p.inbox:
			_ = p.rn.Step(m)
		case f := <-p.reports:
			f(p.rn)
		case v := <-p.props:
			_ = p.rn.Propose([]byte(v)) // dropped without a leader; the test re-proposes
		case f := <-p.cmds:
			f()
		}
		p.handleReady()
	}
}

// handleReady follows raft's Ready contract: persist, send, apply, advance.
func (p *raftPeer) handleReady() {
	for p.rn.HasReady() {
		rd := p.rn.Ready()
		p.mu.Lock()
		if !raft.IsEmptySnap(rd.Snapshot) {
			data, ok := p.staged[rd.Snapshot.Metadata.Index]
			if !ok {
				panic("raft accepted a snapshot the transport never staged")
			}
			p.applied = decodeState(data)
			p.index = rd.Snapshot.Metadata.Index
			_ = p.store.ApplySnapshot(rd.Snapshot)
		}
		_ = p.store.Append(rd.Entries)
		if !raft.IsEmptyHardState(rd.HardState) {
			_ = p.store.SetHardState(rd.HardState)
		}
		p.tr.Send(raftGroup, rd.Messages)
		for _, e := range rd.CommittedEntries {
			if e.Type == raftpb.EntryNormal && len(e.Data) > 0 {
				p.applied = append(p.applied, string(e.Data))
			}
			p.index = e.Index
		}
		p.mu.Unlock()
		p.rn.Advance(rd)
	}
	leader := p.rn.BasicStatus().RaftState == raft.StateLeader
	p.mu.Lock()
	p.leader = leader && p.running
	p.mu.Unlock()
}

// compact snapshots the applied state and drops the log behind it, so a
// follower that missed those entries can only catch up by snapshot.
func (p *raftPeer) compact() {
	done := make(chan struct{})
	p.cmds <- func() {
		defer close(done)
		p.mu.Lock()
		defer p.mu.Unlock()
		snap, err := p.store.CreateSnapshot(p.index, &raftVoters, encodeState(p.applied))
		if err != nil {
			panic(err)
		}
		p.snapshot = snap
		if err := p.store.Compact(p.index); err != nil {
			panic(err)
		}
	}
	<-done
}

func (p *raftPeer) state() ([]string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.applied), p.leader
}

func encodeState(vals []string) []byte { return []byte(strings.Join(vals, "\n")) }

func decodeState(b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	return strings.Split(string(b), "\n")
}

// raftCluster is three raft peers, each on its own transport.
type raftCluster struct {
	t     *testing.T
	book  *book
	peers []*raftPeer // index 0 unused
}

func (c *raftCluster) startTransport(id uint64) *Transport {
	cfg := testConfig(id, c.book)
	tr, err := New(cfg, c.peers[id])
	if err != nil {
		c.t.Fatal(err)
	}
	if err := tr.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.book.set(id, tr.Addr().String())
	c.peers[id].start(tr)
	return tr
}

func (c *raftCluster) leader() *raftPeer {
	for _, p := range c.peers[1:] {
		if _, l := p.state(); l {
			return p
		}
	}
	return nil
}

// commit proposes vals until every listed peer has applied all of them. A
// proposal lost to a leader change is proposed again, so a value may
// commit twice; the check is that every peer applied the same sequence.
func (c *raftCluster) commit(vals []string, on ...*raftPeer) {
	c.t.Helper()
	var lastPropose time.Time
	waitFor(c.t, fmt.Sprintf("%d values committed everywhere", len(vals)), func() bool {
		ref, _ := on[0].state()
		for _, p := range on[1:] {
			if s, _ := p.state(); !slices.Equal(s, ref) {
				return false
			}
		}
		missing := slices.DeleteFunc(slices.Clone(vals), func(v string) bool { return slices.Contains(ref, v) })
		if len(missing) == 0 {
			return true
		}
		if l := c.leader(); l != nil && time.Since(lastPropose) > 500*time.Millisecond {
			lastPropose = time.Now()
			for _, v := range missing {
				select {
				case l.props <- v:
				default:
				}
			}
		}
		return false
	})
}

func values(prefix string, n int) []string {
	var v []string
	for i := range n {
		v = append(v, fmt.Sprintf("%s%d", prefix, i))
	}
	return v
}

// Three etcd-raft nodes elect a leader and commit over the transport; a
// node that was down while the leader compacted its log catches up by a
// snapshot streamed over the transport.
func TestRaftOverTransport(t *testing.T) {
	c := &raftCluster{t: t, book: newBook(), peers: []*raftPeer{nil}}
	trs := []*Transport{nil}
	for id := uint64(1); id <= 3; id++ {
		c.peers = append(c.peers, newRaftPeer(t, id))
	}
	for id := uint64(1); id <= 3; id++ {
		trs = append(trs, c.startTransport(id))
	}
	defer func() {
		for id := 1; id <= 3; id++ {
			c.peers[id].stop()
			trs[id].Close()
		}
	}()

	waitFor(t, "a leader", func() bool { return c.leader() != nil })
	c.commit(values("v", 50), c.peers[1:]...)

	// Node 3 goes down. The others commit and the leader compacts.
	c.peers[3].stop()
	trs[3].Close()
	waitFor(t, "a leader among 1 and 2", func() bool {
		l := c.leader()
		return l != nil && l.id != 3
	})
	c.commit(values("w", 50), c.peers[1], c.peers[2])
	lead := c.leader()
	lead.compact()
	if s, _ := c.peers[3].state(); len(s) >= 100 {
		t.Fatalf("node 3 applied %d values while down", len(s))
	}
	waitFor(t, "the leader to see node 3 unreachable", func() bool {
		return trs[lead.id].Stats().Peers[3].Down
	})

	// Node 3 comes back on a new port (a restarted process, same ID and
	// same raft state); the leader reconnects and streams a snapshot.
	trs[3] = c.startTransport(3)
	c.commit(values("x", 10), c.peers[1:]...)
	if got := trs[3].Stats().SnapshotsReceived; got == 0 {
		t.Fatal("node 3 caught up without a snapshot; the test did not exercise one")
	}
	if got := trs[lead.id].Stats().SnapshotsSent; got == 0 {
		t.Fatal("the leader reports no snapshot sent")
	}
}

// nilLogger silences raft's own logging unless CAIRN_TEST_LOG is set.
func nilLogger() *log.Logger {
	if os.Getenv("CAIRN_TEST_LOG") != "" {
		return log.New(os.Stderr, "raft ", log.LstdFlags)
	}
	return log.New(io.Discard, "", 0)
}
