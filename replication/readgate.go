package replication

// Linearizable reads are answered by ReadIndex rounds: the leader
// confirms it still leads with a heartbeat to a quorum, and every read
// of the round waits for the index it returns. Under load a round was
// asked on every pass of the group's worker, so a busy group sent a
// heartbeat broadcast (and, on a follower, a forwarded request and its
// answer) for a handful of reads each. As etcd's read loop does, one
// round is in flight at a time: reads that arrive meanwhile wait for it
// to be answered and then go together in the next round. A round whose
// answer was lost (a dropped connection) is given readRetryTicks before
// the waiting reads ask anyway; the newer round's answer also answers
// the older ones (resolveReads).

// readRetryTicks is how long waiting reads defer to an unanswered round.
const readRetryTicks = 3

// gateReads returns the reads to ask a ReadIndex round for now: the
// waiting ones and the new ones, unless a round is in flight (then they
// all wait, in arrival order, and nil is returned).
func (g *Group) gateReads(reads []*readRequest, ticks int) []*readRequest {
	g.readAge += ticks
	if len(g.readNext) > 0 {
		reads = append(g.readNext, reads...)
		g.readNext = nil
	}
	if len(reads) == 0 {
		return nil
	}
	if len(g.readBatches) > 0 && g.readAge < readRetryTicks {
		g.readNext = reads
		return nil
	}
	return reads
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
	g.readNext = nil
	g.sched.enqueue(g)
}
