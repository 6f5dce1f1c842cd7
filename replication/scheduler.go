package replication

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"github.com/cairnkv/cairn/storage"
	"github.com/cairnkv/cairn/storage/raftlog"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
)

// Scheduler drives every raft group of a node with a fixed pool of
// workers. A group is processed by at most one worker at a time; work that
// arrives while it is being processed makes it run again afterwards.
type Scheduler struct {
	cfg       Config
	transport Transport
	metrics   *metrics

	mu     sync.Mutex
	cond   *sync.Cond
	queue  []*Group
	groups map[storage.GroupID]*Group
	closed bool
	// down: peers the node reports down (SetPeersDown); replaced, never
	// modified, so a reader may keep it after unlocking.
	down map[uint64]bool
	// early: messages for groups not running (yet); see early.go.
	early map[storage.GroupID]*earlyMsgs

	wg     sync.WaitGroup
	cancel context.CancelFunc
}

// NewScheduler starts the workers and the ticker.
func NewScheduler(cfg Config, t Transport) *Scheduler {
	if t == nil {
		t = LocalOnly{}
	}
	if cfg.Logger == nil {
		cfg.Logger = DefaultConfig(cfg.NodeID).Logger
	}
	s := &Scheduler{cfg: cfg, transport: t, groups: map[storage.GroupID]*Group{}, early: map[storage.GroupID]*earlyMsgs{}, metrics: newMetrics()}
	s.cond = sync.NewCond(&s.mu)
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	for range max(cfg.Workers, 1) {
		s.wg.Add(1)
		go s.work()
	}
	s.wg.Add(1)
	go s.ticker(ctx)
	return s
}

// GroupConfig describes a group to start.
type GroupConfig struct {
	ID storage.GroupID
	DB *storage.DB
	SM StateMachine
	// Voters bootstraps a group that has no raft state yet with these
	// voters. Ignored when the group already has state.
	Voters []uint64
	// Campaign makes a group this call bootstraps stand for election at
	// once (its preferred leader), instead of after an election timeout.
	Campaign bool
	// Join starts a group that has no raft state yet empty, as a replica
	// added to an existing group: the leader fills it by snapshot. Voters
	// must then be empty.
	Join bool
	// IgnoreDiskLow exempts the group from Config.DiskLow: its writes are
	// few and small, and the node needs them to run (the meta group:
	// node registration, bucket configs). The reserve covers them.
	IgnoreDiskLow bool
}

// AddGroup opens (bootstrapping if new) and starts a group.
func (s *Scheduler) AddGroup(gc GroupConfig) (*Group, error) {
	exists, err := raftlog.Exists(gc.DB, gc.ID)
	if err != nil {
		return nil, fmt.Errorf("group %d: %w", gc.ID, err)
	}
	if !exists && !gc.Join {
		if len(gc.Voters) == 0 {
			return nil, fmt.Errorf("group %d: no raft state and no voters to bootstrap", gc.ID)
		}
		b := gc.DB.NewBatch()
		if err := raftlog.Bootstrap(b, gc.ID, gc.Voters); err != nil {
			b.Close()
			return nil, err
		}
		if err := b.Commit(gc.DB.Durable()); err != nil {
			return nil, fmt.Errorf("group %d: bootstrap: %w", gc.ID, err)
		}
	}
	lg, err := raftlog.Open(gc.DB, gc.ID)
	if err != nil {
		return nil, err
	}
	applied := gc.SM.Applied()
	first, _, _ := lg.Stats()
	if applied < first-1 {
		// A freshly bootstrapped group's state machine starts at the
		// synthetic snapshot index.
		applied = first - 1
	}
	rc := &raft.Config{
		ID:                        s.cfg.NodeID,
		ElectionTick:              s.cfg.ElectionTicks,
		HeartbeatTick:             s.cfg.HeartbeatTicks,
		Applied:                   applied,
		MaxSizePerMsg:             1 << 20,
		MaxCommittedSizePerReady:  64 << 20,
		MaxUncommittedEntriesSize: s.cfg.MaxUncommittedBytes,
		MaxInflightMsgs:           256,
		CheckQuorum:               true,
		PreVote:                   true,
		ReadOnlyOption:            raft.ReadOnlySafe,
		Logger:                    raftLogger{s.cfg.Logger.With("group", uint64(gc.ID))},
	}
	g := &Group{
		id: gc.ID, db: gc.DB, log: lg, sm: gc.SM, sched: s, ignoreDiskLow: gc.IgnoreDiskLow,
		lg:          s.cfg.Logger.With("group", uint64(gc.ID)),
		waiting:     map[uint64]*proposal{},
		byIndex:     map[uint64]uint64{},
		heard:       map[uint64]time.Time{},
		readBatches: map[uint64][]*readRequest{},
		appliedCh:   make(chan struct{}),
		lastCompact: first - 1,
		held:        map[uint64]*heldSnapshot{},
	}
	rc.Storage = groupStorage{Log: lg, g: g}
	rn, err := raft.NewRawNode(rc)
	if err != nil {
		return nil, fmt.Errorf("group %d: starting raft: %w", gc.ID, err)
	}
	g.rn = rn
	g.applied.Store(applied)
	// Proposal IDs start at a random point each run, so IDs of this run
	// never repeat those of entries an earlier run left in the log.
	g.proposalSeq.Store(randomUint64() >> 1)
	g.readSeq = randomUint64() >> 1
	// Decide about campaigning while the RawNode is still this
	// goroutine's alone: once the group is registered below, messages
	// delivered to it make a worker step it concurrently.
	campaign := gc.Campaign && !exists
	if ids := rn.Status().Config.Voters.IDs(); len(ids) == 1 {
		// A group whose only voter is this node elects itself at once
		// instead of waiting out an election timeout.
		_, self := ids[s.cfg.NodeID]
		campaign = self
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrStopped
	}
	if _, dup := s.groups[gc.ID]; dup {
		s.mu.Unlock()
		return nil, fmt.Errorf("group %d already running", gc.ID)
	}
	s.groups[gc.ID] = g
	early := s.takeEarlyLocked(gc.ID)
	s.mu.Unlock()
	for _, m := range early {
		g.deliver(m)
	}
	if campaign {
		g.Campaign()
	}
	s.enqueue(g)
	return g, nil
}

// Group returns a running group.
func (s *Scheduler) Group(id storage.GroupID) (*Group, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.groups[id]
	return g, ok
}

// RemoveGroup stops a group; pending proposals fail with ErrStopped. It
// waits until no worker is processing the group.
func (s *Scheduler) RemoveGroup(id storage.GroupID) {
	s.mu.Lock()
	g, ok := s.groups[id]
	if ok {
		delete(s.groups, id)
	}
	s.mu.Unlock()
	if !ok {
		return
	}
	g.stopped.Store(true)
	s.lockGroup(g)
	g.failPending(ErrStopped)
	g.releaseSnapshots()
	s.unlockGroup(g)
}

// Deliver hands an incoming raft message to its group. A message for a
// group that is not running is held briefly in case the group starts
// (see early.go); an error says it was dropped.
func (s *Scheduler) Deliver(id storage.GroupID, m raftpb.Message) error {
	s.mu.Lock()
	g, ok := s.groups[id]
	if !ok {
		held := !s.closed && s.holdLocked(id, m)
		s.mu.Unlock()
		if !held {
			return fmt.Errorf("group %d: not on this node", id)
		}
		return nil
	}
	s.mu.Unlock()
	g.deliver(m)
	return nil
}

// Close stops every group and the workers.
func (s *Scheduler) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	groups := make([]*Group, 0, len(s.groups))
	for _, g := range s.groups {
		groups = append(groups, g)
	}
	s.cond.Broadcast()
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	for _, g := range groups {
		g.stopped.Store(true)
		g.failPending(ErrStopped)
		g.releaseSnapshots()
	}
}

func (s *Scheduler) enqueue(g *Group) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g.sched_busy {
		g.sched_again = true
		return
	}
	if g.sched_queued {
		return
	}
	g.sched_queued = true
	s.queue = append(s.queue, g)
	s.cond.Signal()
}

// lockGroup waits until no worker runs g and keeps workers off it.
func (s *Scheduler) lockGroup(g *Group) {
	s.mu.Lock()
	for g.sched_busy {
		s.mu.Unlock()
		time.Sleep(100 * time.Microsecond)
		s.mu.Lock()
	}
	g.sched_busy = true
	s.mu.Unlock()
}

func (s *Scheduler) unlockGroup(g *Group) {
	s.mu.Lock()
	g.sched_busy = false
	again := g.sched_again || g.sched_queued
	g.sched_again = false
	if again && !g.sched_queued {
		g.sched_queued = true
		s.queue = append(s.queue, g)
		s.cond.Signal()
	}
	s.mu.Unlock()
}

func (s *Scheduler) work() {
	defer s.wg.Done()
	for {
		s.mu.Lock()
		for !s.closed && (len(s.queue) == 0 || s.queue[0].sched_busy) {
			if len(s.queue) > 0 && s.queue[0].sched_busy {
				// Being processed elsewhere (lockGroup): it will be
				// requeued on unlock.
				g := s.queue[0]
				s.queue = s.queue[1:]
				g.sched_queued = false
				g.sched_again = true
				continue
			}
			s.cond.Wait()
		}
		if s.closed {
			s.mu.Unlock()
			return
		}
		g := s.queue[0]
		s.queue[0] = nil
		s.queue = s.queue[1:]
		g.sched_queued = false
		g.sched_busy = true
		s.mu.Unlock()

		if !g.stopped.Load() && !g.failed.Load() {
			if err := g.process(); err != nil {
				g.fail(err)
			}
		}
		s.unlockGroup(g)
	}
}

func (s *Scheduler) ticker(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.TickInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		groups := s.groupsLocked()
		pending := len(s.early) > 0
		s.mu.Unlock()
		if pending {
			s.pruneEarly(time.Now())
		}
		for _, g := range groups {
			if g.needsTick() {
				g.tick()
				s.enqueue(g)
			}
		}
	}
}

func randomUint64() uint64 {
	var b [8]byte
	_, _ = crand.Read(b[:])
	return binary.BigEndian.Uint64(b[:])
}
