package replication

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/cairnkv/cairn/storage"
)

// A group's first replica campaigns before the others have started the
// group (a new bucket: the other nodes have not applied the registry
// change yet). Its votes are held by the other schedulers and handed to
// the group when it starts, so the election does not wait out a timeout.
func TestVotesForAGroupNotStartedYetAreHeld(t *testing.T) {
	net := &memNet{nodes: map[uint64]*Scheduler{}, down: map[uint64]bool{}}
	ids := []uint64{1, 2, 3}
	dbs := map[uint64]*storage.DB{}
	for _, id := range ids {
		db, err := storage.Open(storage.Options{InMemory: true})
		if err != nil {
			t.Fatal(err)
		}
		cfg := DefaultConfig(id)
		cfg.TickInterval = 10 * time.Millisecond
		cfg.ElectionTicks = 100 // one second: far longer than the test's bound
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		s := NewScheduler(cfg, memTransport{net: net, self: id})
		net.nodes[id] = s
		dbs[id] = db
		t.Cleanup(func() { s.Close(); _ = db.Close() })
	}
	const group storage.GroupID = 9
	start := func(id uint64, campaign bool) *Group {
		g, err := net.nodes[id].AddGroup(GroupConfig{ID: group, DB: dbs[id], SM: newCounterSM(dbs[id], group), Voters: ids, Campaign: campaign})
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	g1 := start(1, true)
	// Node 1's pre-votes reach nodes 2 and 3 before their group exists.
	waitFor(t, 5*time.Second, "node 1's votes held by the others", func() bool {
		for _, id := range []uint64{2, 3} {
			s := net.nodes[id]
			s.mu.Lock()
			n := 0
			if e := s.early[group]; e != nil {
				n = len(e.msgs)
			}
			s.mu.Unlock()
			if n == 0 {
				return false
			}
		}
		return true
	})
	begun := time.Now()
	start(2, false)
	start(3, false)
	waitFor(t, 500*time.Millisecond, "node 1 elected without an election timeout", g1.IsLeader)
	t.Logf("node 1 leads %s after the others started", time.Since(begun).Round(time.Millisecond))
}
