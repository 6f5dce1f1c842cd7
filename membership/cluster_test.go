package membership

import (
	"fmt"
	"maps"
	"testing"
	"time"
)

// startCluster starts n nodes with IDs 1..n; every node but the first joins
// through the first one only.
func startCluster(t *testing.T, n int, mut ...func(*Config)) []*testNode {
	t.Helper()
	restateFailure(t)
	nodes := make([]*testNode, 0, n)
	for i := 1; i <= n; i++ {
		var cfg Config
		if i == 1 {
			cfg = testConfig(1)
		} else {
			cfg = testConfig(uint64(i), nodes[0].addr())
		}
		for _, f := range mut {
			f(&cfg)
		}
		nodes = append(nodes, start(t, cfg))
	}
	waitMembers(t, 15*time.Second, n, nodes...)
	return nodes
}

func TestJoinThroughOneSeed(t *testing.T) {
	for _, size := range []int{3, 5} {
		t.Run(fmt.Sprintf("%d nodes", size), func(t *testing.T) {
			t.Parallel()
			nodes := startCluster(t, size)
			for _, o := range nodes {
				ms := o.Members()
				if len(ms) != size {
					t.Fatalf("node %d knows %v", o.id, ids(ms))
				}
				for i, m := range ms {
					want := nodes[i]
					if m.ID != want.id || m.State != StateAlive || m.GossipAddr != want.addr() {
						t.Errorf("node %d sees member %d as %+v", o.id, i, m)
					}
					wm := testMeta(want.id)
					if m.Name != wm.Name || m.ClientAddr != wm.ClientAddr || m.HTTPAddr != wm.HTTPAddr ||
						m.PeerAddr != wm.PeerAddr || m.Version != wm.Version || !maps.Equal(m.Tags, wm.Tags) {
						t.Errorf("node %d sees meta of %d as %+v, want %+v", o.id, want.id, m.Meta, wm)
					}
				}
				if a := o.Alive(); len(a) != size {
					t.Errorf("node %d: Alive = %v", o.id, ids(a))
				}
				if l := o.Local(); l.ID != o.id || l.State != StateAlive {
					t.Errorf("node %d: Local = %+v", o.id, l)
				}
				// Everyone got a Joined event for everyone, itself included.
				for _, other := range nodes {
					waitFor(t, 5*time.Second, fmt.Sprintf("node %d: joined event for %d", o.id, other.id),
						func() bool { return contains(o.eventsFor(other.id), EventJoined) })
				}
			}
		})
	}
}

func TestSeedListWithSelf(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	self := fmt.Sprintf("127.0.0.1:%d", port)
	cfg := testConfig(1, self)
	cfg.BindAddr = self
	a := start(t, cfg)
	waitFor(t, 5*time.Second, "first-member log", func() bool { return a.logs.count("starting as the first member") == 1 })
	b := start(t, testConfig(2, self))
	waitMembers(t, 10*time.Second, 2, a, b)
	if n := a.logs.count("joining the cluster failed"); n != 0 {
		t.Fatalf("the first node retried its own address %d times", n)
	}
}

func TestSeedsDownAtStart(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	seed := fmt.Sprintf("127.0.0.1:%d", port)
	a := start(t, testConfig(1, seed))
	waitFor(t, 10*time.Second, "two failed join attempts", func() bool {
		return a.logs.count("WARN joining the cluster failed; retrying") >= 2
	})
	if got := a.Alive(); len(got) != 1 {
		t.Fatalf("alive before the seed exists: %v", ids(got))
	}
	cfg := testConfig(2)
	cfg.BindAddr = seed
	b := start(t, cfg)
	waitMembers(t, 10*time.Second, 2, a, b)
	waitFor(t, 5*time.Second, "joined log", func() bool { return a.logs.count("INFO joined the cluster") == 1 })
}

func TestUpdateMetaPropagates(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 3)
	n2 := nodes[1]
	meta := testMeta(2)
	meta.Name = "renamed"
	meta.ClientAddr = "127.0.0.1:14222"
	meta.Tags = map[string]string{"zone": "east", "disk": "ssd"}
	meta.Version = "v2"
	if err := n2.UpdateMeta(meta); err != nil {
		t.Fatal(err)
	}
	if l := n2.Local(); l.Name != "renamed" || l.ID != 2 {
		t.Fatalf("Local after update: %+v", l)
	}
	for _, o := range nodes {
		waitFor(t, 5*time.Second, fmt.Sprintf("node %d to see the new meta", o.id), func() bool {
			m, _ := o.member(2)
			return m.Name == "renamed" && m.ClientAddr == meta.ClientAddr && m.Version == "v2" &&
				maps.Equal(m.Tags, meta.Tags) && m.State == StateAlive
		})
		waitFor(t, 5*time.Second, fmt.Sprintf("node %d: Updated event", o.id),
			func() bool { return contains(o.eventsFor(2), EventUpdated) })
	}

	// ID 0 means "keep mine"; another ID is refused; oversized meta is
	// refused and the old meta stays.
	meta.ID = 0
	meta.Version = "v3"
	if err := n2.UpdateMeta(meta); err != nil {
		t.Fatalf("update with ID 0: %v", err)
	}
	meta.ID = 9
	if err := n2.UpdateMeta(meta); err == nil {
		t.Fatal("changing the ID was accepted")
	}
	meta.ID = 2
	meta.Tags = map[string]string{"huge": string(make([]byte, MaxMetaSize))}
	if err := n2.UpdateMeta(meta); err == nil {
		t.Fatal("oversized meta accepted")
	}
	if l := n2.Local(); l.Version != "v3" || l.Tags["disk"] != "ssd" {
		t.Fatalf("Local after refused updates: %+v", l.Meta)
	}
}

// Nodes of differently named clusters ignore each other: a seed of the
// other cluster is never joined, and neither node lists the other.
func TestClustersWithOtherNamesStayApart(t *testing.T) {
	t.Parallel()
	a := start(t, testConfig(1))
	cfg := testConfig(2, a.addr())
	cfg.Cluster = t.Name() + "/other"
	b := start(t, cfg)
	waitFor(t, 10*time.Second, "the other cluster's node to fail joining", func() bool {
		return b.logs.count("joining the cluster failed") >= 2
	})
	if got := ids(a.Members()); len(got) != 1 || got[0] != 1 {
		t.Fatalf("node 1 lists %v", got)
	}
	if got := ids(b.Members()); len(got) != 1 || got[0] != 2 {
		t.Fatalf("node 2 lists %v", got)
	}
}
