package replication

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
)

// waitLeaderKnown waits until every replica knows the same leader and
// returns it.
func waitLeaderKnown(t *testing.T, nodes map[uint64]*testNode) uint64 {
	t.Helper()
	// Not waitLeader and then a check: a deposed leader may still call
	// itself leader for a moment after its successor won, and waiting for
	// everyone to follow it would wait forever.
	var leader uint64
	waitFor(t, 10*time.Second, "every replica knows the same leader", func() bool {
		leader = 0
		for _, n := range nodes {
			l := n.g.Leader()
			if l == 0 || (leader != 0 && l != leader) {
				return false
			}
			leader = l
		}
		return nodes[leader] != nil && nodes[leader].g.IsLeader()
	})
	return leader
}

// followerOf returns a replica that is not the leader, once every
// replica knows the leader.
func followerOf(t *testing.T, nodes map[uint64]*testNode) *testNode {
	t.Helper()
	leader := waitLeaderKnown(t, nodes)
	for id, n := range nodes {
		if id != leader {
			return n
		}
	}
	t.Fatal("no follower")
	return nil
}

// Concurrent reads share ReadIndex rounds: one round is in flight at a
// time and the reads that arrive meanwhile go together in the next, so
// many readers cost a few rounds each, not one round per read.
func TestReadsShareRounds(t *testing.T) {
	net, nodes := startCluster(t, []uint64{1, 2, 3})
	f := followerOf(t, nodes)
	// The filter runs under the network's lock: plain counters do.
	var rounds, inFlight, maxInFlight int
	net.mu.Lock()
	net.drop = func(m raftpb.Message) bool {
		switch {
		case m.Type == raftpb.MsgReadIndex && m.From == f.id:
			rounds++
			inFlight++
			maxInFlight = max(maxInFlight, inFlight)
		case m.Type == raftpb.MsgReadIndexResp && m.To == f.id:
			inFlight--
		}
		return false
	}
	net.mu.Unlock()

	const readers, each = 64, 20
	ctx := ctx10(t)
	var wg sync.WaitGroup
	errs := make(chan error, readers*each)
	for range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				if err := f.g.LinearizableBarrier(ctx); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	net.mu.Lock()
	defer net.mu.Unlock()
	t.Logf("%d reads took %d ReadIndex rounds, at most %d in flight", readers*each, rounds, maxInFlight)
	// One in flight, or two when a slow answer (under -race) made the
	// waiting reads ask again.
	if maxInFlight > 2 {
		t.Fatalf("%d ReadIndex rounds in flight at once", maxInFlight)
	}
}

// A round whose request is lost does not hold up the reads that wait
// for it for long: after a few ticks they ask again, and the answer to
// the new round answers the lost one's reads too.
func TestReadsOutliveALostRound(t *testing.T) {
	net, nodes := startCluster(t, []uint64{1, 2, 3})
	f := followerOf(t, nodes)
	var lost atomic.Bool
	net.mu.Lock()
	net.drop = func(m raftpb.Message) bool {
		// Lose the first read request this follower sends.
		return m.Type == raftpb.MsgReadIndex && m.From == f.id && lost.CompareAndSwap(false, true)
	}
	net.mu.Unlock()

	// Well under an election timeout (100 ms here), so only the retry can
	// answer them in time.
	ctx, cancel := context.WithTimeout(context.Background(), 80*time.Millisecond)
	defer cancel()
	first := make(chan error, 1)
	go func() { first <- f.g.LinearizableBarrier(ctx) }()
	waitFor(t, 5*time.Second, "the first round is lost", lost.Load)
	if err := f.g.LinearizableBarrier(ctx); err != nil {
		t.Fatalf("read after a lost round: %v", err)
	}
	if err := <-first; err != nil {
		t.Fatalf("read of the lost round: %v", err)
	}
}

// A round that will never be answered (asked of a quorum that a
// membership change then replaced) must not hold reads up for good, even
// on a lone leader, which is otherwise not ticked at all.
func TestReadsOutliveAStaleRoundOnALoneLeader(t *testing.T) {
	_, nodes := startCluster(t, []uint64{1})
	waitLeaderKnown(t, nodes)
	g := nodes[1].g
	waitFor(t, 5*time.Second, "the lone leader stops ticking", func() bool { return !g.needsTick() })

	// What a membership change leaves behind: a round in flight, just
	// asked, that no answer will ever come for.
	g.sched.lockGroup(g)
	g.readSeq++
	stale := &readRequest{done: make(chan readDone, 1)}
	g.readBatches[g.readSeq] = []*readRequest{stale}
	g.readAsked = time.Now()
	g.sched.unlockGroup(g)

	// Well under the caller's own retry (two election timeouts, 200 ms).
	// A read index round, not LinearizableBarrier: a lone leader's
	// barrier needs no round at all (soleLeader), but a reader that
	// entered its round before the group was left alone still waits in
	// one.
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	if _, err := g.ReadIndex(ctx); err != nil {
		t.Fatalf("read behind a stale round: %v", err)
	}
	select {
	case d := <-stale.done:
		if d.err != nil {
			t.Fatalf("the stale round's read: %v", d.err)
		}
	default:
		t.Fatal("the stale round's read was not answered by the newer round")
	}
}
