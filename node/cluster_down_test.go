package node

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cairnkv/cairn/storage"
)

// Buckets are created and deleted while a node is down. When it comes
// back it converges: it knows the buckets created meanwhile, it has
// destroyed the data of those deleted (also of one deleted and created
// again under the same name), and its replicas of the others have caught
// up with the writes it missed.
func TestClusterBucketsChangeWhileNodeDown(t *testing.T) {
	tc := startTestCluster(t, 3, nil)
	ctx := testCtx(t)
	waitMetaVoters(t, tc, 3)
	for _, name := range []string{"keep", "gone", "again"} {
		if _, err := tc.nodes[1].CreateBucket(ctx, BucketConfig{Name: name, Replicas: 3}); err != nil {
			t.Fatal(err)
		}
		if _, err := tc.bucketOn(1, name).Put(ctx, "k", []byte("old")); err != nil {
			t.Fatal(err)
		}
	}
	down := 3
	oldGroups := map[string]storage.GroupID{}
	for _, name := range []string{"gone", "again"} {
		oldGroups[name] = tc.bucketOn(down, name).group.ID()
	}
	tc.stop(down)

	// Meanwhile: writes to a kept bucket, two deletions, a re-creation
	// under an old name, a new bucket.
	for i := range 200 {
		if _, err := tc.bucketOn(1+i%2, "keep").Put(ctx, fmt.Sprintf("while.%d", i), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"gone", "again"} {
		if err := tc.nodes[1].DeleteBucket(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	// One node is down, so three replicas cannot be placed now.
	if _, err := tc.nodes[2].CreateBucket(ctx, BucketConfig{Name: "again", Replicas: 3}); !errors.Is(err, ErrNoPlacement) {
		t.Fatalf("R3 with a node down: %v", err)
	}
	for _, name := range []string{"again", "fresh"} {
		if _, err := tc.nodes[2].CreateBucket(ctx, BucketConfig{Name: name, Replicas: 1, Description: "while n3 was down"}); err != nil {
			t.Fatal(err)
		}
		reps, _, _ := tc.nodes[2].Locate(name)
		b, err := tc.nodes[indexOf(tc, reps[0].ID)].Bucket(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Put(ctx, "k", []byte("new")); err != nil {
			t.Fatal(err)
		}
	}
	want := tc.bucketOn(1, "keep").state.Stats().Last

	n := tc.add(down)
	eventually(t, 30*time.Second, "the returning node converges", func() error {
		// The deleted groups' data is gone from its disk.
		ids, err := groupsOnDisk(n.disk)
		if err != nil {
			return err
		}
		for name, id := range oldGroups {
			if slices.Contains(ids, id) {
				return fmt.Errorf("group %d of deleted bucket %s still on disk", id, name)
			}
			if countKeys(t, n.disk, storage.GroupPrefix(id)) > 0 {
				return fmt.Errorf("state of deleted bucket %s (group %d) still on disk", name, id)
			}
		}
		// Its replica of the kept bucket caught up.
		b, err := n.Bucket("keep")
		if err != nil {
			return err
		}
		if got := b.state.Stats().Last; got != want {
			return fmt.Errorf("keep: last revision %d, want %d", got, want)
		}
		return nil
	})
	// It knows the buckets created meanwhile, and serves the new
	// incarnation of "again", not the old one.
	for _, name := range []string{"again", "fresh"} {
		info, err := n.BucketInfo(ctx, name)
		if err != nil || info.Config.Description != "while n3 was down" || info.State.Msgs != 1 {
			t.Fatalf("%s through the returning node: %+v %v", name, info, err)
		}
	}
	if _, err := n.BucketInfo(ctx, "gone"); !errors.Is(err, ErrBucketNotFound) {
		t.Fatalf("deleted bucket through the returning node: %v", err)
	}
	all, err := n.Buckets(ctx)
	if err != nil || len(all) != 3 {
		t.Fatalf("buckets through the returning node: %d %v", len(all), err)
	}
	e, err := n.mustBucket(t, "keep").Get(ctx, "while.199", ReadOptions{})
	if err != nil || string(e.Value) != "x" {
		t.Fatalf("read through the returning node: %+v %v", e, err)
	}
}

func indexOf(tc *testCluster, id uint64) int {
	for i, n := range tc.nodes {
		if n.NodeID() == id {
			return i
		}
	}
	return 0
}

func (n *Node) mustBucket(t *testing.T, name string) *Bucket {
	t.Helper()
	b, err := n.Bucket(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
