package node

import (
	"fmt"
	"testing"
)

// A bucket delete returns only once every live replica has stopped
// serving the bucket (the deleting node asks each to reconcile with the
// registry, bucket.reconcile): a client that deleted a bucket through
// one node and asks another right away must not find it still served.
func TestDeleteReturnsOnceEveryReplicaStopped(t *testing.T) {
	tc := startTestCluster(t, 3, nil)
	ctx := testCtx(t)
	tc.waitMetaVoters(3)
	for round := range 3 {
		name := fmt.Sprintf("brief%d", round)
		if _, err := tc.nodes[1].CreateBucket(ctx, BucketConfig{Name: name, Replicas: 3}); err != nil {
			t.Fatal(err)
		}
		// Every replica has its group running once a put through each
		// node is readable there.
		for i := 1; i <= 3; i++ {
			if _, err := tc.bucketOn(i, name).Put(ctx, "k", []byte("v")); err != nil {
				t.Fatalf("put on node %d: %v", i, err)
			}
		}
		deleter := round%3 + 1
		if err := tc.nodes[deleter].DeleteBucket(ctx, name); err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= 3; i++ {
			n := tc.nodes[i]
			n.mu.RLock()
			_, held := n.buckets[name]
			n.mu.RUnlock()
			if held {
				t.Fatalf("round %d: node %d still serves %s after node %d's delete returned", round, i, name, deleter)
			}
		}
	}
}
