package replication

import "time"

// Linearizable reads are answered by ReadIndex rounds: the leader
// confirms it still leads with a heartbeat to a quorum, and every read
// of the round waits for the index it returns. Under load a round was
// asked on every pass of the group's worker, so a busy group sent a
// heartbeat broadcast (and, on a follower, a forwarded request and its
// answer) for a handful of reads each. As etcd's read loop does, one
// round is in flight at a time: reads that arrive meanwhile wait for it
// to be answered and then go together in the next round.
//
// A round can go unanswered for good: its request or answer lost with a
// connection, or asked of a quorum that a membership change then
// replaced (raft never re-checks a pending round against the new
// configuration). So waiting reads defer to a round only for
// readRetryTicks' worth of time since it was asked; then they ask a new
// one, whose answer also answers the old round's reads (resolveReads).
// While reads wait the group is ticked, even a lone leader that otherwise
// is not, so that they are looked at again without new traffic.

// readRetryTicks is how long, in ticks, waiting reads defer to an
// unanswered round.
const readRetryTicks = 3

// gateReads returns the reads to ask a ReadIndex round for now: the
// waiting ones and the new ones, unless a recent round is in flight
// (then they all wait, in arrival order, and nil is returned).
func (g *Group) gateReads(reads []*readRequest) []*readRequest {
	if len(g.readNext) > 0 {
		reads = append(g.readNext, reads...)
	}
	if len(reads) > 0 && len(g.readBatches) > 0 &&
		time.Since(g.readAsked) < readRetryTicks*g.sched.cfg.TickInterval {
		g.setReadNext(reads)
		return nil
	}
	g.setReadNext(nil)
	return reads
}

// setReadNext sets the reads waiting for the round in flight, and the
// flag the ticker reads.
func (g *Group) setReadNext(reads []*readRequest) {
	g.readNext = reads
	g.readsWaiting.Store(len(reads) > 0)
}

// releaseNextReads puts the waiting reads back into the inbox once no
// round is in flight, so that the worker asks a round for them at once.
func (g *Group) releaseNextReads() {
	if len(g.readBatches) > 0 || len(g.readNext) == 0 {
		return
	}
	g.inMu.Lock()
	g.reads = append(g.readNext, g.reads...)
	g.inMu.Unlock()
	g.setReadNext(nil)
	g.sched.enqueue(g)
}
