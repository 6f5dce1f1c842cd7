package replication

import (
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
)

// process runs the group on a worker: feed raft whatever arrived, then
// handle Ready until there is none.
func (g *Group) process() error {
	// Feeding raft the inbox again before each Ready lets one synced batch
	// both apply the entries of the previous round and persist the
	// proposals that arrived meanwhile (pipelining under load).
	ticked := false
	for rounds := 0; ; rounds++ {
		if rounds == maxRounds {
			// Let other groups have the worker; come back at once.
			g.sched.enqueue(g)
			return nil
		}
		if rounds == 0 || g.inboxPending() {
			ticked = g.feed() || ticked
		}
		if !g.rn.HasReady() {
			break
		}
		rd := g.rn.Ready()
		if err := g.handleReady(rd); err != nil {
			return err
		}
		g.rn.Advance(rd)
	}
	// Parked requests go out as soon as raft can take them; while a
	// leadership transfer goes on they wait for its end or the next tick.
	if len(g.parkedProps)+len(g.parkedReads) > 0 {
		if holdProps, holdReads := g.mustHold(); (len(g.parkedProps) > 0 && !holdProps) || (len(g.parkedReads) > 0 && !holdReads) {
			g.sched.enqueue(g)
		}
	}
	if g.orphans > 0 {
		g.expireOrphans(time.Now())
	}
	if ticked {
		g.maybeQuiesceLeader()
	}
	return nil
}

// maxRounds bounds the Ready rounds of one turn on a worker.
const maxRounds = 32

func (g *Group) inboxPending() bool {
	g.inMu.Lock()
	defer g.inMu.Unlock()
	return len(g.msgs)+len(g.proposals)+len(g.reads)+g.ticks+len(g.snapReports)+len(g.unreachable)+len(g.confChanges) > 0 ||
		g.campaign || g.transfer != 0 || g.wakeUp || g.forget
}

// stepPeer hands raft one message from a peer, unless the node's disk is
// low (diskLow) and the message would have it append or lead, or admit
// refuses it. Every peer message raft sees goes through here.
func (g *Group) stepPeer(m *raftpb.Message, diskLow bool) {
	if t := m.Type; diskLow && (t == raftpb.MsgApp || t == raftpb.MsgProp || t == raftpb.MsgTimeoutNow) {
		// Nothing more on a nearly full disk (Config.DiskLow); the
		// leader sends the entries again once this replica answers.
		// Nor does it take a leadership handed to it: it could not
		// append what it would be asked to lead.
		g.sched.metrics.diskLowDrops.Inc()
		return
	}
	if err := g.admit(m); err != nil {
		g.refuse(m, err)
		return
	}
	if err := g.rn.Step(*m); err != nil && !errors.Is(err, raft.ErrStepPeerNotFound) {
		g.lg.Debug("raft step", "err", err, "type", m.Type.String(), "from", m.From)
	}
}

// feed hands raft everything that arrived in the inbox. It reports
// whether raft was ticked.
func (g *Group) feed() bool {
	g.inMu.Lock()
	msgs, props, reads, ticks := g.msgs, g.proposals, g.reads, g.ticks
	campaign, transfer := g.campaign, g.transfer
	reports, unreachable := g.snapReports, g.unreachable
	confChanges := g.confChanges
	wakeUp, forget := g.wakeUp, g.forget
	g.confChanges = nil
	g.msgs, g.proposals, g.reads, g.ticks = nil, nil, nil, 0
	g.campaign, g.transfer = false, 0
	g.snapReports, g.unreachable = nil, nil
	g.wakeUp, g.forget = false, false
	g.inMu.Unlock()

	// Anything but ticks, unreachable reports and heartbeats wakes a
	// quiesced group, and so does a plain heartbeat that no quiesce
	// heartbeat follows (its leader is awake); a group still quiesced
	// drops the ticks queued before it quiesced (a leader's tick would
	// heartbeat).
	quiesceHB, heartbeat := lastQuiesceHeartbeat(msgs)
	active := len(props)+len(reads)+len(confChanges)+len(reports) > 0 || campaign || transfer != 0 || wakeUp || forget
	for i := range msgs {
		active = active || wakes(&msgs[i])
	}
	if active || (heartbeat && quiesceHB == nil) {
		g.unquiesce()
		quiesceHB = nil
	} else if g.quiesced.Load() {
		ticks = 0
	}
	if forget {
		_ = g.rn.ForgetLeader()
	}

	for _, r := range reports {
		st := raft.SnapshotFinish
		if r.failed {
			st = raft.SnapshotFailure
		}
		g.rn.ReportSnapshot(r.to, st)
	}
	for _, to := range unreachable {
		g.rn.ReportUnreachable(to)
	}

	g.stayAwake = max(0, g.stayAwake-ticks)
	msgs = g.holdForwarded(msgs)
	diskLow := len(msgs) > 0 && g.diskLow()
	g.noteHeard(msgs)
	for i := range msgs {
		if t := msgs[i].Type; t == raftpb.MsgPreVote || t == raftpb.MsgVote {
			// A replica is timing out: it, and any follower its vote
			// request woke, must hear this leader's heartbeats for a
			// whole election timeout before the group quiesces again, or
			// their leases run out together and they elect without it.
			g.stayAwake = g.sched.cfg.ElectionTicks
		}
		g.stepPeer(&msgs[i], diskLow)
	}
	// Ticks go after the messages that arrived with them. The ticks that
	// queued up while this group waited for a worker measure this node's
	// slowness, not its peers' silence: fed first, they would make a
	// follower campaign although its leader's append waits right here,
	// and a leader fail its quorum check (and step down) although its
	// followers' answers wait too. That happened under load, over and
	// over. For the same reason, fewer than an election timeout of ticks
	// go in at once (etcd drops ticks its raft loop cannot take in time).
	for range min(ticks, max(1, g.sched.cfg.ElectionTicks-1)) {
		g.rn.Tick()
	}
	if quiesceHB != nil {
		g.maybeQuiesceFollower(quiesceHB)
	}
	if campaign {
		_ = g.rn.Campaign()
	}
	if transfer != 0 {
		g.rn.TransferLeader(transfer)
	}
	for _, cc := range confChanges {
		// A change raft refuses (another is pending, or no leader) is
		// retried by ChangeMembership.
		if err := g.rn.ProposeConfChange(cc); err != nil {
			g.lg.Debug("membership change not proposed", "err", err)
		}
	}
	// Without a leader, proposals and reads wait (bounded) for one rather
	// than fail: elections take an election timeout, and callers bound
	// their wait with their context. Proposals also wait out a leadership
	// transfer, during which raft refuses them. Raft's own view decides:
	// a message fed just now may have started a new term.
	st := g.rn.BasicStatus()
	g.transferring = holdsForwarded(st)
	g.releaseForwarded(st)
	holdProps, holdReads := mustHold(st)
	if holdProps {
		g.park(props, nil)
		props = nil
	} else if len(g.parkedProps) > 0 {
		props = append(g.parkedProps, props...)
		g.parkedProps = nil
	}
	if holdReads {
		g.park(nil, append(g.readNext, reads...))
		g.setReadNext(nil)
		reads = nil
	} else if len(g.parkedReads) > 0 {
		reads = append(g.parkedReads, reads...)
		g.parkedReads = nil
	}
	reads = g.gateReads(reads)
	for len(props) > 0 {
		n := proposalRun(props)
		g.propose(props[:n], st)
		props = props[n:]
	}
	if len(reads) > 0 {
		g.readSeq++
		g.readBatches[g.readSeq] = reads
		g.rn.ReadIndex(readCtx(g.sched.cfg.NodeID, g.readSeq))
		g.readAsked = time.Now()
		g.sched.metrics.readIndex.Inc()
	}
	return ticks > 0
}

// maxProposalRun bounds the payload of one raft proposal message: as
// raft's MaxSizePerMsg bounds an append, so that a follower's forwarded
// proposals fit the transport's frames.
const maxProposalRun = 1 << 20

// proposalRun is how many of props, from the first, go to raft in one
// message: at least one, then as many as fit maxProposalRun.
func proposalRun(props []*proposal) int {
	size := len(props[0].data)
	n := 1
	for n < len(props) && size+len(props[n].data) <= maxProposalRun {
		size += len(props[n].data)
		n++
	}
	return n
}

// propose hands props to raft as one message with one entry each. Raft
// answers a proposal message with one append per follower (and a
// follower forwards it to its leader as one message), so proposing one
// by one cost a leader an append, and each follower an append to take
// in and an answer, per entry: under 64 writers that was most of a
// replicated put's messages. Raft takes or refuses the run as a whole.
func (g *Group) propose(props []*proposal, st raft.BasicStatus) {
	ents := make([]raftpb.Entry, len(props))
	for i, p := range props {
		ents[i].Data = p.data
	}
	err := g.rn.Step(raftpb.Message{Type: raftpb.MsgProp, From: g.sched.cfg.NodeID, Entries: ents})
	if err != nil {
		if errors.Is(err, raft.ErrProposalDropped) {
			err = ErrDropped
		}
		for _, p := range props {
			g.sched.metrics.proposals.WithLabelValues("failed").Inc()
			p.finish(Outcome{}, fmt.Errorf("group %d: %w", g.id, err))
		}
		return
	}
	for _, p := range props {
		// Raft's own view, as it stands now, names where the proposal
		// went: the last Ready's may be older.
		p.to, p.toTerm = st.Lead, st.Term
		g.waiting[p.id] = p
	}
}

// mustHold reports whether proposals and reads must wait rather than go
// to raft now: no leader, or (proposals only) a leadership transfer.
func (g *Group) mustHold() (props, reads bool) {
	return mustHold(g.rn.BasicStatus())
}

func mustHold(st raft.BasicStatus) (props, reads bool) {
	noLeader := st.Lead == raft.None
	return noLeader || st.LeadTransferee != raft.None, noLeader
}

// maxParked bounds requests waiting for a leader.
const maxParked = 100000

func (g *Group) park(props []*proposal, reads []*readRequest) {
	for _, p := range props {
		if len(g.parkedProps) >= maxParked {
			p.finish(Outcome{}, fmt.Errorf("group %d: %w", g.id, ErrNotLeader))
			continue
		}
		g.parkedProps = append(g.parkedProps, p)
	}
	for _, r := range reads {
		if len(g.parkedReads) >= maxParked {
			r.done <- readDone{err: fmt.Errorf("group %d: %w", g.id, ErrNotLeader)}
			continue
		}
		g.parkedReads = append(g.parkedReads, r)
	}
}

// handleReady persists, applies, sends and notifies, in raft's order.
func (g *Group) handleReady(rd raft.Ready) error {
	termChanged := !raft.IsEmptyHardState(rd.HardState) && rd.HardState.Term != g.term.Load()
	if termChanged {
		g.term.Store(rd.HardState.Term)
	}
	if rd.SoftState != nil {
		g.setLeader(rd.SoftState.Lead)
		g.solo.Store(g.isSolo())
	}
	if rd.SoftState != nil || termChanged {
		// A leader re-elected in a new term counts as a change too: it
		// may have dropped proposals while it was not leader.
		g.markOrphans(g.leader.Load(), g.term.Load())
	}
	if !raft.IsEmptySnap(rd.Snapshot) {
		// Raft's order: install the snapshot, then the entries after it.
		if err := g.installSnapshot(rd.Snapshot, rd.HardState); err != nil {
			return err
		}
		rd.Snapshot, rd.HardState = raftpb.Snapshot{}, raftpb.HardState{}
	}

	// Messages that promise nothing about this replica's disk (appends
	// and heartbeats from a leader, vote requests, read-index traffic) go
	// out before the fsync, so followers persist a leader's entries while
	// the leader persists them too (Raft thesis 10.2.1, as etcd does):
	// a write then waits for one fsync round, not two in a row. raft
	// counts the leader's own copy only once it is durable (its self-ack
	// waits for Advance), so a commit still needs a quorum of fsyncs.
	// Acks and votes wait for the fsync below.
	early, late := splitByDurability(rd.Messages)
	if len(early) > 0 {
		g.sched.transport.Send(g.id, early)
	}

	b := g.db.NewIndexedBatch()
	defer b.Close()
	if err := g.log.Save(b, rd.HardState, rd.Entries, rd.Snapshot); err != nil {
		return fmt.Errorf("group %d: saving raft state: %w", g.id, err)
	}
	g.noteAppended(rd.Entries)

	results, applied, err := g.apply(b, rd.CommittedEntries)
	if err != nil {
		g.sm.Abort()
		return err
	}
	opts := pebble.NoSync
	if rd.MustSync {
		opts = g.db.Durable()
	}
	if err := b.Commit(opts); err != nil {
		g.sm.Abort()
		return fmt.Errorf("group %d: committing raft batch: %w", g.id, err)
	}
	if len(rd.CommittedEntries) > 0 {
		g.sm.Committed()
	}
	if len(late) > 0 {
		g.sched.transport.Send(g.id, late)
	}
	m := g.sched.metrics
	m.readyRounds.Inc()
	if opts != pebble.NoSync {
		m.syncedBatches.Inc()
	}
	for _, r := range results {
		if r.err == nil {
			m.proposals.WithLabelValues("committed").Inc()
			m.observeCommit(r.p.start)
		} else {
			m.proposals.WithLabelValues("dropped").Inc()
		}
		r.p.finish(Outcome{Index: r.index, Result: r.result}, r.err)
	}
	if len(rd.CommittedEntries) > 0 {
		g.log.TrimCache(applied)
		g.notifyApplied(applied)
		if err := g.maybeCompact(applied); err != nil {
			return err
		}
	}
	for _, rs := range rd.ReadStates {
		g.resolveReads(rs)
	}
	return nil
}

// splitByDurability separates the messages that may be sent before this
// Ready's state is on disk from those that must wait for it: raft's
// answers that vouch for persisted state (append acks and votes), as
// raft's own asynchronous-storage mode separates them.
func splitByDurability(msgs []raftpb.Message) (early, late []raftpb.Message) {
	for _, m := range msgs {
		switch m.Type {
		case raftpb.MsgAppResp, raftpb.MsgVoteResp, raftpb.MsgPreVoteResp:
			late = append(late, m)
		default:
			early = append(early, m)
		}
	}
	return early, late
}

type applyResult struct {
	p      *proposal
	index  uint64
	result any
	err    error
}

// apply applies committed entries into b and returns the outcomes that
// belong to proposals waiting on this replica.
func (g *Group) apply(b *pebble.Batch, ents []raftpb.Entry) ([]applyResult, uint64, error) {
	if len(ents) == 0 {
		return nil, g.applied.Load(), nil
	}
	var out []applyResult
	self := g.sched.cfg.NodeID
	for i := range ents {
		e := &ents[i]
		switch e.Type {
		case raftpb.EntryNormal:
			if len(e.Data) == 0 {
				break // empty entry a new leader appends
			}
			node, id, payload, ok := unframe(e.Data)
			if !ok {
				g.lg.Error("skipping unframed raft entry", "index", e.Index)
				break
			}
			res, err := g.sm.Apply(b, payload)
			if err != nil {
				return nil, 0, fmt.Errorf("group %d: applying entry %d: %w", g.id, e.Index, err)
			}
			// Only the entry this replica appended for the waiter resolves
			// it: an entry from an earlier run of this node (whose counter
			// could collide) sits at another index.
			if node == self {
				if p, ok := g.waiting[id]; ok && p.index == e.Index {
					delete(g.waiting, id)
					out = append(out, applyResult{p: p, index: e.Index, result: res})
				}
			}
		case raftpb.EntryConfChange, raftpb.EntryConfChangeV2:
			cc, err := decodeConfChange(e)
			if err != nil {
				return nil, 0, fmt.Errorf("group %d: conf change %d: %w", g.id, e.Index, err)
			}
			// A change raft cannot apply is one no correct leader
			// appends (it checks proposals the same way): a forged or
			// corrupt log. This group stops; raft would take the node.
			if err := g.checkConfChange(cc.AsV2()); err != nil {
				return nil, 0, fmt.Errorf("group %d: conf change %d (%v) cannot apply: %w", g.id, e.Index, cc, err)
			}
			cs := g.rn.ApplyConfChange(cc)
			if err := g.log.SetConfState(b, *cs); err != nil {
				return nil, 0, err
			}
			g.solo.Store(g.isSolo())
		}
		// A waiter whose entry we appended at this index, but which is
		// not what committed here, is lost (a new leader overwrote it).
		if id, ok := g.byIndex[e.Index]; ok {
			delete(g.byIndex, e.Index)
			if p, ok := g.waiting[id]; ok && p.index == e.Index {
				delete(g.waiting, id)
				out = append(out, applyResult{p: p, err: fmt.Errorf("group %d: %w", g.id, ErrDropped)})
			}
		}
	}
	last := ents[len(ents)-1].Index
	if err := g.sm.SetApplied(b, last); err != nil {
		return nil, 0, err
	}
	return out, last, nil
}

// noteAppended records the log index of this leader's own proposals.
func (g *Group) noteAppended(ents []raftpb.Entry) {
	if len(ents) > 0 {
		g.appendedTerm = ents[len(ents)-1].Term
	}
	if g.termStart.Load() == 0 && g.IsLeader() {
		term := g.term.Load()
		for i := range ents {
			if ents[i].Term == term {
				g.termStart.Store(ents[i].Index)
				break
			}
		}
	}
	if len(g.waiting) == 0 {
		return
	}
	self := g.sched.cfg.NodeID
	for i := range ents {
		if ents[i].Type != raftpb.EntryNormal {
			continue
		}
		if node, id, _, ok := unframe(ents[i].Data); ok && node == self {
			if p, ok := g.waiting[id]; ok {
				p.index = ents[i].Index
				g.byIndex[p.index] = id
			}
		}
	}
}

func (g *Group) resolveReads(rs raft.ReadState) {
	node, seq, ok := parseReadCtx(rs.RequestCtx)
	if !ok || node != g.sched.cfg.NodeID {
		return
	}
	for s, batch := range g.readBatches {
		if s > seq {
			continue
		}
		// An older round whose answer was lost (a dropped message) is
		// answered too: this round's index was committed after the older
		// round was asked, so reading at it is linearizable for both.
		for _, r := range batch {
			r.done <- readDone{index: rs.Index}
		}
		delete(g.readBatches, s)
	}
	g.releaseNextReads()
}

func (g *Group) setLeader(lead uint64) {
	old := g.leader.Swap(lead)
	if old == lead {
		return
	}
	g.termStart.Store(0)
	g.leaderSince.Store(time.Now().UnixNano())
	g.lg.Debug("raft leader changed", "from", old, "to", lead)
	g.sched.metrics.leaderChanges.Inc()
	// Reads in flight went to the old leader (or were ours as leader) and
	// may never be answered: fail them; ReadIndex asks again. Reads that
	// waited for them go to the new leader.
	for s, batch := range g.readBatches {
		for _, r := range batch {
			r.done <- readDone{err: fmt.Errorf("group %d: %w", g.id, ErrNotLeader)}
		}
		delete(g.readBatches, s)
	}
	g.releaseNextReads()
}

// markOrphans notes the proposals forwarded to a leadership other than
// the current one (lead in term). Proposals forwarded to an old leader
// that have not come back in this replica's log may be lost with it.
// Many are not: a leader hands over only to a replica that has its whole
// log, and the new leader's first append brings them here. expireOrphans
// fails the others as soon as an entry of the new leadership's term has
// been appended here without them (they are not in its log), or an
// election timeout after the change, whichever comes first. The same
// node leading again in a later term is a new leadership: in between it
// dropped what was forwarded to it.
func (g *Group) markOrphans(lead, term uint64) {
	now := time.Now()
	self := g.sched.cfg.NodeID
	for _, p := range g.waiting {
		switch {
		case p.index != 0 || p.to == 0 || p.to == self:
		case p.to == lead && p.toTerm == term:
			// Its leader is back in the same term: it led all along, and
			// this replica only lost sight of it.
			p.orphaned, p.orphanTerm = time.Time{}, 0
		default:
			if p.orphaned.IsZero() {
				p.orphaned = now
				g.orphans++
			}
			if lead != raft.None {
				p.orphanTerm = term
			}
		}
	}
}

// expireOrphans fails the proposals orphaned by a leader change (see
// setLeader) whose entries did not come with the new leader's first
// entries, or within an election timeout.
func (g *Group) expireOrphans(now time.Time) {
	grace := time.Duration(g.sched.cfg.ElectionTicks) * g.sched.cfg.TickInterval
	g.orphans = 0
	for id, p := range g.waiting {
		switch {
		case p.orphaned.IsZero() || p.index != 0:
		case (p.orphanTerm != 0 && g.appendedTerm >= p.orphanTerm) || now.Sub(p.orphaned) >= grace:
			delete(g.waiting, id)
			p.finish(Outcome{}, fmt.Errorf("group %d: %w", g.id, ErrLeaderChanged))
		default:
			g.orphans++
		}
	}
}

// maybeCompact truncates the log once enough entries have been applied.
// The applied state it relies on was written to the same WAL before this
// batch, so the truncation can never be durable without it.
func (g *Group) maybeCompact(applied uint64) error {
	cfg := g.sched.cfg
	if applied < g.lastCompact+cfg.CompactEvery+cfg.CompactKeep {
		return nil
	}
	to := applied - cfg.CompactKeep
	b := g.db.NewBatch()
	defer b.Close()
	if err := g.log.Compact(b, to); err != nil {
		return fmt.Errorf("group %d: compacting log to %d: %w", g.id, to, err)
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("group %d: compacting log to %d: %w", g.id, to, err)
	}
	g.lastCompact = to
	g.sched.metrics.compactions.Inc()
	return nil
}

// fail stops a group after a storage failure.
func (g *Group) fail(err error) {
	g.failed.Store(true)
	g.lg.Error("raft group failed; it serves nothing until restart", "err", err)
	g.failPending(fmt.Errorf("%w: %w", ErrGroupFailed, err))
}

func (g *Group) failPending(err error) {
	for id, p := range g.waiting {
		delete(g.waiting, id)
		p.finish(Outcome{}, err)
	}
	clear(g.byIndex)
	g.orphans = 0
	g.inMu.Lock()
	props, reads := append(g.proposals, g.parkedProps...), append(g.reads, g.parkedReads...)
	g.proposals, g.reads, g.parkedProps, g.parkedReads = nil, nil, nil, nil
	g.inMu.Unlock()
	for _, p := range props {
		p.finish(Outcome{}, err)
	}
	for _, r := range reads {
		r.done <- readDone{err: err}
	}
	for s, batch := range g.readBatches {
		for _, r := range batch {
			r.done <- readDone{err: err}
		}
		delete(g.readBatches, s)
	}
	for _, r := range g.readNext {
		r.done <- readDone{err: err}
	}
	g.setReadNext(nil)
	g.notifyApplied(g.applied.Load())
}

// needsTick: a group whose only voter is this node and which it leads has
// no timers worth running, nor has a quiesced group; every other group
// ticks, and so does any group with reads waiting for a round in flight
// (readgate.go).
func (g *Group) needsTick() bool {
	return (!(g.solo.Load() && g.IsLeader()) && !g.quiesced.Load()) || g.readsWaiting.Load()
}

func (g *Group) isSolo() bool {
	ids := g.rn.Status().Config.Voters.IDs()
	_, self := ids[g.sched.cfg.NodeID]
	return len(ids) == 1 && self && len(g.rn.Status().Config.Learners) == 0
}
