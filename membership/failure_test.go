package membership

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// deadline for failure detection with the local profile: a probe round, then
// a suspicion timeout that shrinks from 18 s towards 3 s as peers confirm.
const detectTimeout = 30 * time.Second

func TestLeaveIsNotFailure(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 3)
	leaver, rest := nodes[2], nodes[:2]
	t0 := time.Now()
	// Leave waits until its broadcasts were gossiped enough times; the
	// bound is generous because a loaded CI machine (race detector, other
	// packages' tests) can stretch gossip rounds well past their interval.
	if err := leaver.Leave(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	waitState(t, 5*time.Second, 3, StateLeft, rest...)
	t.Logf("leave seen by all in %v", time.Since(t0).Round(time.Millisecond))
	for _, o := range rest {
		waitFor(t, time.Second, "left event", func() bool { return contains(o.eventsFor(3), EventLeft) })
		if contains(o.eventsFor(3), EventFailed) {
			t.Errorf("node %d saw a graceful leave as a failure: %v", o.id, o.eventsFor(3))
		}
		if a := o.Alive(); len(a) != 2 {
			t.Errorf("node %d: Alive = %v", o.id, ids(a))
		}
		if ms := o.Members(); len(ms) != 3 {
			t.Errorf("node %d forgot the left member: %v", o.id, ids(ms))
		}
	}
	if l := leaver.Local(); l.State != StateLeft {
		t.Errorf("leaver's own state: %v", l.State)
	}
	// The leaver is shut down: its events are closed, operations refuse.
	waitFor(t, time.Second, "leaver's events closed", func() bool {
		select {
		case <-leaver.evDone:
			return true
		default:
			return false
		}
	})
	if err := leaver.Leave(time.Second); !errors.Is(err, ErrClosed) {
		t.Errorf("second Leave: %v", err)
	}
	if err := leaver.UpdateMeta(testMeta(3)); !errors.Is(err, ErrClosed) {
		t.Errorf("UpdateMeta after Leave: %v", err)
	}
	if err := leaver.Close(); err != nil {
		t.Errorf("Close after Leave: %v", err)
	}
}

func TestCloseIsFailure(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 3)
	victim, rest := nodes[2], nodes[:2]

	// Watch for this node's own suspicion (StateSuspect) on the way to Dead.
	var sawSuspect atomic.Bool
	stop := make(chan struct{})
	defer close(stop)
	for _, o := range rest {
		go func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(10 * time.Millisecond):
				}
				if m, _ := o.member(3); m.State == StateSuspect {
					sawSuspect.Store(true)
				}
			}
		}()
	}

	t0 := time.Now()
	if err := victim.Close(); err != nil {
		t.Fatal(err)
	}
	waitState(t, detectTimeout, 3, StateDead, rest...)
	t.Logf("failure detected by all in %v", time.Since(t0).Round(time.Millisecond))
	for _, o := range rest {
		waitFor(t, time.Second, "failed event", func() bool { return contains(o.eventsFor(3), EventFailed) })
		if contains(o.eventsFor(3), EventLeft) {
			t.Errorf("node %d saw a crash as a graceful leave", o.id)
		}
		if a := o.Alive(); len(a) != 2 {
			t.Errorf("node %d: Alive = %v", o.id, ids(a))
		}
	}
	if !sawSuspect.Load() {
		t.Error("no survivor reported StateSuspect before Dead (memberlist's suspect log line no longer recognised?)")
	}
}

// A node restarted with the same ID (same data dir) on the same address is
// the same member again, even under a new human name.
func TestRestartKeepsIdentity(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 3)
	old, rest := nodes[2], nodes[:2]
	addr := old.addr()
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	waitState(t, detectTimeout, 3, StateDead, rest...)

	cfg := testConfig(3, rest[0].addr())
	cfg.BindAddr = addr
	cfg.Meta.Name = "node-3-renamed"
	t0 := time.Now()
	back := start(t, cfg)
	waitState(t, 10*time.Second, 3, StateAlive, rest...)
	t.Logf("restarted node alive again for all in %v", time.Since(t0).Round(time.Millisecond))
	waitMembers(t, 10*time.Second, 3, back)
	for _, o := range rest {
		ms := o.Members()
		if len(ms) != 3 {
			t.Fatalf("node %d: members %v; a restart must not add a member", o.id, ids(ms))
		}
		waitFor(t, 5*time.Second, "new name", func() bool { m, _ := o.member(3); return m.Name == "node-3-renamed" })
		// Joined, Failed, then Joined again (events arrive asynchronously).
		waitUntil(t, 5*time.Second, func() bool {
			kinds := o.eventsFor(3)
			n := len(kinds)
			return n >= 3 && kinds[0] == EventJoined && contains(kinds, EventFailed) && kinds[n-1] == EventJoined
		}, func() string {
			return fmt.Sprintf("node %d: events joined, failed, joined for node 3 (have %v)", o.id, o.eventsFor(3))
		})
	}
}

// A quick restart, before anyone noticed the crash, converges too.
func TestQuickRestart(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 3)
	old, rest := nodes[2], nodes[:2]
	addr := old.addr()
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(3, rest[0].addr())
	cfg.BindAddr = addr
	cfg.Meta.Version = "v2"
	back := start(t, cfg)
	// Normally a second. The bound is detectTimeout because the way back
	// can take a few rounds when a loaded machine delays probes: the old
	// incarnation is declared failed, the reconnect loop reaches the new
	// process, and its refutation has to travel back.
	waitMembers(t, detectTimeout, 3, back)
	for _, o := range rest {
		waitUntil(t, detectTimeout, func() bool {
			m, _ := o.member(3)
			return m.State == StateAlive && m.Version == "v2"
		}, func() string {
			m, _ := o.member(3)
			return fmt.Sprintf("node %d to see node 3 alive with v2 (sees %v with %q)", o.id, m.State, m.Version)
		})
		if ms := o.Members(); len(ms) != 3 {
			t.Errorf("node %d: members %v", o.id, ids(ms))
		}
	}
}

// A wiped node (new ID) on the old address is a new member; the old ID
// stays known as dead.
func TestWipedNodeIsNewMember(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 3)
	old, rest := nodes[2], nodes[:2]
	addr := old.addr()
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(4, rest[0].addr())
	cfg.BindAddr = addr
	fresh := start(t, cfg)
	waitMembers(t, 10*time.Second, 3, fresh)
	waitState(t, 10*time.Second, 4, StateAlive, rest...)
	waitState(t, detectTimeout, 3, StateDead, rest...)
	for _, o := range rest {
		got := ids(o.Members())
		if len(got) != 4 || got[2] != 3 || got[3] != 4 {
			t.Errorf("node %d: members %v, want [1 2 3 4]", o.id, got)
		}
		if a := ids(o.Alive()); len(a) != 3 || a[2] != 4 {
			t.Errorf("node %d: alive %v, want [1 2 4]", o.id, a)
		}
	}
}

// A second process claiming a live node's ID from another address is
// refused and logged as a conflict; the original keeps its place.
func TestDuplicateIDConflict(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 2)
	a, b := nodes[0], nodes[1]
	dup := start(t, testConfig(2, a.addr()))
	waitFor(t, 10*time.Second, "conflict logged by node 1", func() bool {
		return a.logs.count("ERROR node ID conflict") > 0
	})
	waitFor(t, 10*time.Second, "conflict logged by the duplicate", func() bool {
		return dup.logs.count("ERROR node ID conflict", "THIS node") > 0
	})
	if m, _ := a.member(2); m.GossipAddr != b.addr() || m.State != StateAlive {
		t.Errorf("node 1 sees node 2 as %+v, want it at %s", m, b.addr())
	}
}
