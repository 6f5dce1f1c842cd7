package replication

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairnkv/cairn/storage"
	"github.com/cairnkv/cairn/storage/raftlog"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
)

// Group is one raft group on this node.
type Group struct {
	id    storage.GroupID
	db    *storage.DB
	log   *raftlog.Log
	sm    StateMachine
	sched *Scheduler
	lg    *slog.Logger
	// ignoreDiskLow: GroupConfig.IgnoreDiskLow.
	ignoreDiskLow bool

	// Inbox: filled by any goroutine, drained by the worker.
	inMu      sync.Mutex
	proposals []*proposal
	reads     []*readRequest
	msgs      []raftpb.Message
	ticks     int
	campaign  bool
	transfer  uint64
	// wakeUp and forget: the node asked a quiesced group to wake (and
	// forget a leader reported down).
	wakeUp bool
	forget bool
	// confChanges are membership changes to propose.
	confChanges []raftpb.ConfChangeV2

	// Worker state: touched only while the scheduler runs this group.
	rn           *raft.RawNode
	waiting      map[uint64]*proposal
	byIndex      map[uint64]uint64 // log index → proposal id, for own appended entries
	orphans      int               // waiting proposals orphaned by a leader change
	appendedTerm uint64            // term of the last entry this replica appended
	stayAwake    int               // ticks before a leader may quiesce again (a vote request came)
	readBatches  map[uint64][]*readRequest
	readNext     []*readRequest // reads waiting for the ReadIndex round in flight
	readAsked    time.Time      // when the last ReadIndex round was asked
	// readsWaiting mirrors len(readNext) > 0 for the ticker, which keeps
	// ticking such a group (even a lone leader) so that the waiting reads
	// are looked at again.
	readsWaiting atomic.Bool
	parkedProps  []*proposal
	parkedReads  []*readRequest
	// heldForwarded are proposals followers forwarded while this leader
	// was handing over its leadership (see transferhold.go).
	heldForwarded []raftpb.Message
	// heard is when each peer's last message to this group was fed to
	// raft (see Peers).
	heard map[uint64]time.Time
	// transferring: this node led and was handing its leadership over as
	// of the last feed (raft changes that only in feed).
	transferring bool
	readSeq      uint64
	lastRefusal  time.Time // when refuse last logged
	lastCompact  uint64
	proposalSeq  atomic.Uint64
	leader       atomic.Uint64
	leaderSince  atomic.Int64 // unix nanos of the last leader change
	term         atomic.Uint64
	applied      atomic.Uint64
	failed       atomic.Bool
	solo         atomic.Bool // only voter is this node
	// termStart is the index of the first entry this replica appended as
	// leader in its current term (0 until it has, and while it does not
	// lead): once it is applied, so is everything earlier terms committed.
	termStart    atomic.Uint64
	quiesced     atomic.Bool // idle: not ticked (see quiesce.go)
	stopped      atomic.Bool
	snapReports  []snapReport // inbox
	unreachable  []uint64     // inbox
	snapMu       sync.Mutex
	held         map[uint64]*heldSnapshot   // generated for followers, by index
	staged       map[uint64]*stagedSnapshot // received, waiting for raft
	appliedMu    sync.Mutex
	appliedCh    chan struct{}
	sched_queued bool // guarded by Scheduler.mu
	sched_busy   bool
	sched_again  bool
}

// ID returns the group's ID.
func (g *Group) ID() storage.GroupID { return g.id }

// Leader returns the current leader's node ID (0 when unknown).
func (g *Group) Leader() uint64 { return g.leader.Load() }

// LeaderSince is when this replica saw the current leader (known or
// not) take over.
func (g *Group) LeaderSince() time.Time { return time.Unix(0, g.leaderSince.Load()) }

// LeaderFor is how long the current leader has been in place, as this
// replica saw it change.
func (g *Group) LeaderFor() time.Duration { return time.Since(g.LeaderSince()) }

// IsLeader reports whether this node leads the group.
func (g *Group) IsLeader() bool { return g.leader.Load() == g.sched.cfg.NodeID }

// Term returns the current raft term.
func (g *Group) Term() uint64 { return g.term.Load() }

// Applied returns the applied index.
func (g *Group) Applied() uint64 { return g.applied.Load() }

// Log returns the group's raft log (for status and tests).
func (g *Group) Log() *raftlog.Log { return g.log }

// Propose replicates payload and waits until it is applied, returning what
// the state machine produced. If ctx ends first the outcome is unknown to
// the caller (the entry may still commit).
func (g *Group) Propose(ctx context.Context, payload []byte) (Outcome, error) {
	return g.ProposeAsync(payload)(ctx)
}

// ProposeAsync queues payload at once, so proposals made one after the
// other by one goroutine keep their order in the log, and returns a
// function that waits for the outcome.
func (g *Group) ProposeAsync(payload []byte) func(context.Context) (Outcome, error) {
	err := g.usable()
	if err == nil && g.diskLow() {
		err = fmt.Errorf("group %d: %w", g.id, ErrDiskLow)
	}
	if err != nil {
		return func(context.Context) (Outcome, error) { return Outcome{}, err }
	}
	id := g.proposalSeq.Add(1)
	p := &proposal{start: time.Now(), id: id, data: frame(g.sched.cfg.NodeID, id, payload), done: make(chan proposalDone, 1)}
	g.inMu.Lock()
	g.proposals = append(g.proposals, p)
	g.inMu.Unlock()
	g.sched.enqueue(g)
	return func(ctx context.Context) (Outcome, error) {
		select {
		case d := <-p.done:
			return d.out, d.err
		case <-ctx.Done():
			return Outcome{}, fmt.Errorf("group %d: waiting for commit: %w", g.id, ctx.Err())
		}
	}
}

// ReadIndex returns an index such that reading the state machine once it
// has applied that index is linearizable. Concurrent callers share one
// raft ReadIndex round.
func (g *Group) ReadIndex(ctx context.Context) (uint64, error) {
	// A leader change fails the reads in flight, and a message of a
	// round can be lost on the network (raft does not resend those): ask
	// again, each round bounded by two election timeouts, until ctx ends.
	round := 2 * time.Duration(g.sched.cfg.ElectionTicks) * g.sched.cfg.TickInterval
	for {
		idx, err := g.readIndexOnce(ctx, round)
		if err == nil || ctx.Err() != nil {
			return idx, err
		}
		if !errors.Is(err, ErrNotLeader) && !errors.Is(err, errRoundTimedOut) {
			return idx, err
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("group %d: waiting for read index: %w", g.id, ctx.Err())
		case <-time.After(g.sched.cfg.TickInterval):
		}
	}
}

// errRoundTimedOut: a read index round was not answered within its bound.
var errRoundTimedOut = errors.New("read index round timed out")

// readIndexOnce asks one round and waits up to round for it (a timer, not
// a context derived from ctx: a derived context registers with its parent
// under the parent's lock, and many reads share one parent).
func (g *Group) readIndexOnce(ctx context.Context, round time.Duration) (uint64, error) {
	if err := g.usable(); err != nil {
		return 0, err
	}
	r := &readRequest{done: make(chan readDone, 1)}
	g.inMu.Lock()
	g.reads = append(g.reads, r)
	g.inMu.Unlock()
	g.sched.enqueue(g)
	t := time.NewTimer(round)
	defer t.Stop()
	select {
	case d := <-r.done:
		return d.index, d.err
	case <-t.C:
		return 0, fmt.Errorf("group %d: waiting for read index: %w", g.id, errRoundTimedOut)
	case <-ctx.Done():
		return 0, fmt.Errorf("group %d: waiting for read index: %w", g.id, ctx.Err())
	}
}

// LinearizableBarrier waits until a read of the state machine would be
// linearizable.
func (g *Group) LinearizableBarrier(ctx context.Context) error {
	if g.soleLeader() {
		if err := ctx.Err(); err != nil {
			// As the round would: a caller out of time gets no answer.
			return fmt.Errorf("group %d: read barrier: %w", g.id, err)
		}
		return g.usable()
	}
	idx, err := g.ReadIndex(ctx)
	if err != nil {
		return err
	}
	return g.WaitApplied(ctx, idx)
}

// soleLeader reports whether this replica leads a group whose only voter
// it is (and which has no learners). Its applied state is then already a
// linearizable read: every write acknowledged anywhere was acknowledged by
// this replica after applying it here, and no other replica can be
// elected or even hear of a configuration change before this one applies
// it (a new member's first append is sent only once the change is
// applied, and apply clears solo before that). Raft's own read index
// for a singleton answers at once for the same reason; skipping it saves
// a round through the group's worker per read.
//
// As raft's read index waits for a new leader to commit an entry of its
// own term, this waits for that entry to be applied: after a restart the
// group first applies what earlier terms committed (writes whose
// acknowledgements, if any, never went out), and reads wait for it, so
// a restarted node serves its whole log or nothing.
func (g *Group) soleLeader() bool {
	if !g.solo.Load() || !g.IsLeader() {
		return false
	}
	start := g.termStart.Load()
	return start != 0 && g.applied.Load() >= start
}

// WaitApplied waits until the group has applied index.
func (g *Group) WaitApplied(ctx context.Context, index uint64) error {
	for {
		g.appliedMu.Lock()
		ch := g.appliedCh
		g.appliedMu.Unlock()
		if g.applied.Load() >= index {
			return nil
		}
		if err := g.usable(); err != nil {
			return err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("group %d: waiting for apply of %d: %w", g.id, index, ctx.Err())
		}
	}
}

// Campaign asks this replica to stand for election at its next turn.
func (g *Group) Campaign() {
	g.inMu.Lock()
	g.campaign = true
	g.inMu.Unlock()
	g.sched.enqueue(g)
}

// TransferLeadership asks the leader to hand leadership to node.
func (g *Group) TransferLeadership(node uint64) {
	g.inMu.Lock()
	g.transfer = node
	g.inMu.Unlock()
	g.sched.enqueue(g)
}

// Status returns raft's view of the group.
func (g *Group) Status() raft.Status {
	g.sched.lockGroup(g)
	defer g.sched.unlockGroup(g)
	if g.rn == nil {
		return raft.Status{}
	}
	return g.rn.Status()
}

// diskLow reports whether the node's data disk is below its reserve.
func (g *Group) diskLow() bool {
	f := g.sched.cfg.DiskLow
	return !g.ignoreDiskLow && f != nil && f()
}

func (g *Group) usable() error {
	switch {
	case g.failed.Load():
		return fmt.Errorf("group %d: %w", g.id, ErrGroupFailed)
	case g.stopped.Load():
		return fmt.Errorf("group %d: %w", g.id, ErrStopped)
	}
	return nil
}

func (g *Group) notifyApplied(index uint64) {
	g.applied.Store(index)
	g.appliedMu.Lock()
	close(g.appliedCh)
	g.appliedCh = make(chan struct{})
	g.appliedMu.Unlock()
}

// deliver queues an incoming raft message.
func (g *Group) deliver(m raftpb.Message) {
	g.inMu.Lock()
	g.msgs = append(g.msgs, m)
	g.inMu.Unlock()
	g.sched.enqueue(g)
}

func (g *Group) tick() bool {
	g.inMu.Lock()
	g.ticks++
	g.inMu.Unlock()
	return true
}

// readCtx names a ReadIndex round: this node's ID and the round's number.
// The leader ignores a request whose context equals one it has pending,
// so contexts must be unique across nodes and across restarts of one
// node (the round numbers start at a random point each run): otherwise a
// round could be dropped, or answered with the index of an older round
// asked before the read began.
func readCtx(node, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(make([]byte, 0, 16), node), seq)
}

// parseReadCtx returns the node and round of a read context.
func parseReadCtx(b []byte) (node, seq uint64, ok bool) {
	if len(b) != 16 {
		return 0, 0, false
	}
	return binary.BigEndian.Uint64(b), binary.BigEndian.Uint64(b[8:]), true
}
