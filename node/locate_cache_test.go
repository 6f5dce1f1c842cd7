package node

import (
	"fmt"
	"testing"
	"time"
)

// Locate answers from a cache on the request path; the cache must follow
// the registry (buckets created and deleted elsewhere) and gossip (a
// replica's node going down) as the uncached answer did.
func TestLocateFollowsRegistryAndGossip(t *testing.T) {
	tc := startTestCluster(t, 3, nil)
	ctx := testCtx(t)
	if _, err := tc.nodes[1].CreateBucket(ctx, BucketConfig{Name: "loc"}); err != nil {
		t.Fatal(err)
	}
	var holder int
	eventually(t, 10*time.Second, "every node locates the bucket", func() error {
		for i := 1; i <= 3; i++ {
			reps, local, ok := tc.nodes[i].Locate("loc")
			if !ok || len(reps) != 1 || !reps[0].Alive {
				return fmt.Errorf("node %d: %+v %v", i, reps, ok)
			}
			if local {
				holder = i
			}
		}
		if holder == 0 {
			return fmt.Errorf("no node holds it")
		}
		return nil
	})
	asker := holder%3 + 1
	// Warm the cache, then hand the caller's copy back changed: the
	// cache's own entry must not change with it.
	reps, _, _ := tc.nodes[asker].Locate("loc")
	reps[0].Name = "scribbled"
	if again, _, _ := tc.nodes[asker].Locate("loc"); again[0].Name == "scribbled" {
		t.Fatal("Locate returned the cache's own slice")
	}

	// Deleted through another node: unknown here once the registry has
	// caught up, at once and not after the cache's backstop age.
	other := asker%3 + 1
	if other == holder {
		other = other%3 + 1
	}
	if _, err := tc.nodes[other].CreateBucket(ctx, BucketConfig{Name: "brief"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the new bucket is located", func() error {
		if _, _, ok := tc.nodes[asker].Locate("brief"); !ok {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	if err := tc.nodes[other].DeleteBucket(ctx, "brief"); err != nil {
		t.Fatal(err)
	}
	eventually(t, locationMaxAge/2, "the deleted bucket is forgotten", func() error {
		if _, _, ok := tc.nodes[asker].Locate("brief"); ok {
			return fmt.Errorf("still located")
		}
		return nil
	})

	// The holder goes down: gossip's verdict reaches Locate.
	tc.stop(holder)
	eventually(t, 30*time.Second, "the replica is seen down", func() error {
		reps, _, ok := tc.nodes[asker].Locate("loc")
		if !ok || len(reps) != 1 || reps[0].Alive {
			return fmt.Errorf("%+v %v", reps, ok)
		}
		return nil
	})
}
