package node

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// Two clusters with different names, each node seeded with an address
// of the other cluster as well as of its own, form apart: gossip drops
// the other cluster's packets, so neither registers the other's nodes.
// Without the name in the gossip label the four nodes see each other
// and the clusters' registries mix.
func TestClusterNamesKeepClustersApart(t *testing.T) {
	tc := &testCluster{t: t, nodes: map[int]*Node{}, dirs: map[int]string{}}
	clusterOf := map[int]string{1: "east", 2: "west", 3: "east", 4: "west"}
	ownPeer := map[int]int{1: 3, 3: 1, 2: 4, 4: 2}
	otherPeer := map[int]int{1: 2, 3: 4, 2: 1, 4: 3}
	type started struct {
		i   int
		n   *Node
		err error
	}
	ch := make(chan started, len(clusterOf))
	for i := range clusterOf {
		tc.dirs[i] = t.TempDir()
	}
	for i := range clusterOf {
		cfg := tc.config(i, 2)
		cfg.ClusterName = clusterOf[i]
		cfg.Join = []string{clusterAddr(otherPeer[i], 17946), clusterAddr(ownPeer[i], 17946)}
		go func() {
			n, err := New(cfg)
			ch <- started{i, n, err}
		}()
	}
	t.Cleanup(func() {
		for _, n := range tc.nodes {
			_ = n.Close()
		}
	})
	for range clusterOf {
		s := <-ch
		if s.err != nil {
			t.Fatalf("node %d: %v", s.i, s.err)
		}
		tc.nodes[s.i] = s.n
	}

	for i, n := range tc.nodes {
		want := []string{fmt.Sprintf("n%d", i), fmt.Sprintf("n%d", ownPeer[i])}
		slices.Sort(want)
		eventually(t, 10*time.Second, fmt.Sprintf("node %d registers exactly its own cluster", i), func() error {
			var names []string
			for _, s := range n.Status().Nodes {
				names = append(names, s.Name)
			}
			slices.Sort(names)
			if !slices.Equal(names, want) {
				return fmt.Errorf("cluster %q registers %v, want %v", clusterOf[i], names, want)
			}
			return nil
		})
		for _, m := range n.cluster.ml.Alive() {
			if m.Name == tc.nodes[otherPeer[i]].Name() || m.ID == tc.nodes[otherPeer[i]].NodeID() {
				t.Fatalf("node %d (cluster %q) sees node %d of the other cluster in gossip", i, clusterOf[i], otherPeer[i])
			}
		}
	}
}
