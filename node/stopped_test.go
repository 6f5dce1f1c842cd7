package node

import (
	"errors"
	"testing"
)

// A replica stopped under a request answers "unavailable" (retry) while
// its bucket still exists (it is moving, or the node is shutting down),
// and "not found" only once the bucket was deleted: a client told "not
// found" about a live bucket gives up on it.
func TestStoppedReplicaIsUnavailableNotGone(t *testing.T) {
	n := startNode(t, t.TempDir())
	ctx := testCtx(t)
	for _, name := range []string{"moving", "deleted"} {
		if _, err := n.CreateBucket(ctx, BucketConfig{Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	moving, err := n.Bucket("moving")
	if err != nil {
		t.Fatal(err)
	}
	n.sched.RemoveGroup(moving.group.ID())
	if _, err := moving.Put(ctx, "k", []byte("v")); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("put to a stopped replica of a live bucket: %v, want ErrUnavailable", err)
	}
	if _, err := moving.Get(ctx, "k", ReadOptions{}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("linearizable get from a stopped replica of a live bucket: %v, want ErrUnavailable", err)
	}

	deleted, err := n.Bucket("deleted")
	if err != nil {
		t.Fatal(err)
	}
	if err := n.DeleteBucket(ctx, "deleted"); err != nil {
		t.Fatal(err)
	}
	if _, err := deleted.Put(ctx, "k", []byte("v")); !errors.Is(err, ErrBucketNotFound) {
		t.Fatalf("put to a deleted bucket: %v, want ErrBucketNotFound", err)
	}
}
