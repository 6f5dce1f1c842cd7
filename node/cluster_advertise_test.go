package node

import (
	"fmt"
	"net"
	"testing"
	"time"
)

// Peer listeners on all interfaces (0.0.0.0, as in a container) still
// form a cluster: each node advertises its peer address under the host
// gossip advertises, never the unspecified address peers would dial
// themselves on.
func TestClusterPeerListenerOnAllInterfaces(t *testing.T) {
	// Port 0: a fixed port on all interfaces would collide with the
	// loopback listeners of other packages' tests running in parallel.
	tc := startTestCluster(t, 3, func(c *Config) { c.PeerAddr = "0.0.0.0:0" })
	ctx := testCtx(t)
	tc.waitMetaVoters(3)
	for i, n := range tc.nodes {
		want := fmt.Sprintf("127.0.1.%d", i)
		eventually(t, 10*time.Second, "advertised peer address", func() error {
			for _, nd := range tc.nodes[1].meta.Nodes() {
				if nd.ID != n.NodeID() {
					continue
				}
				host, port, err := net.SplitHostPort(nd.PeerAddr)
				if err != nil || host != want || port == "0" {
					return fmt.Errorf("node %d registered peer address %q, want %s:PORT", i, nd.PeerAddr, want)
				}
			}
			return nil
		})
	}
	if _, err := tc.nodes[2].CreateBucket(ctx, BucketConfig{Name: "anywhere", Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	rev, err := tc.bucketOn(3, "anywhere").Put(ctx, "k", []byte("v"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range tc.nodes {
		e, err := tc.bucketOn(i, "anywhere").Get(ctx, "k", ReadOptions{})
		if err != nil || e.Revision != rev {
			t.Fatalf("node %d: get after put rev %d: %+v %v", i, rev, e, err)
		}
	}
}
