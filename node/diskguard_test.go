package node

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cairnkv/cairn/storage/bucket"
	"golang.org/x/sys/unix"
)

// TestDiskLowRefusesWritesAndRecovers runs a node on a small tmpfs of its
// own and fills the filesystem past the node's reserve: writes are then
// refused with nats-server's "insufficient resources" (503, 10023), reads
// go on, the node stays up, and once the filler is gone writes are taken
// again.
func TestDiskLowRefusesWritesAndRecovers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to mount a small tmpfs for the data directory")
	}
	mnt := t.TempDir()
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, "size=96m"); err != nil {
		t.Skipf("cannot mount a tmpfs: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(mnt, unix.MNT_DETACH) })

	cfg := DefaultConfig()
	cfg.DataDir = filepath.Join(mnt, "data")
	cfg.MinFreeDisk = 32 << 20
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	b := mustBucket(t, n, BucketConfig{Name: "full"})
	mem := mustBucket(t, n, BucketConfig{Name: "ram", Storage: bucket.MemoryStorage})
	ctx := testCtx(t)
	if _, err := b.Put(ctx, "before", []byte("v")); err != nil {
		t.Fatal(err)
	}

	// Leave 16 MiB: below the 32 MiB reserve, well above what Pebble needs
	// to finish what it has begun.
	ballast := filepath.Join(mnt, "ballast")
	var st unix.Statfs_t
	if err := unix.Statfs(mnt, &st); err != nil {
		t.Fatal(err)
	}
	fill := int64(st.Bavail)*st.Bsize - 16<<20
	f, err := os.Create(ballast)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Fallocate(int(f.Fd()), 0, 0, fill); err != nil {
		t.Fatalf("fallocate %d bytes: %v", fill, err)
	}
	f.Close()

	var refused error
	waitFor(t, 10*time.Second, "writes refused on the low disk", func() bool {
		_, refused = b.Put(ctx, "during", []byte("v"))
		return refused != nil
	})
	// Until the guard's next look (every 250 ms) puts still went in; from
	// now on none does.
	_, refused = b.Put(ctx, "refused", []byte("v"))
	var e *Error
	if !errors.Is(refused, ErrInsufficientStorage) || !errors.As(refused, &e) || e.Code != 503 || e.ErrCode != 10023 {
		t.Fatalf("put on a low disk: %v, want 503 10023 insufficient resources", refused)
	}
	if _, err := n.CreateBucket(ctx, BucketConfig{Name: "another"}); !errors.Is(err, ErrInsufficientStorage) {
		t.Fatalf("bucket create on a low disk: %v", err)
	}
	if ent, err := b.Get(ctx, "before", ReadOptions{}); err != nil || string(ent.Value) != "v" {
		t.Fatalf("read on a low disk: %v %v", ent, err)
	}
	// A memory bucket (created before) writes nothing to the disk.
	if _, err := mem.Put(ctx, "during", []byte("v")); err != nil {
		t.Fatalf("put to a memory bucket on a low disk: %v", err)
	}

	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "writes taken again", func() bool {
		_, err := b.Put(ctx, "after", []byte("v"))
		return err == nil
	})
	if _, err := b.Get(ctx, "refused", ReadOptions{}); err == nil {
		t.Fatal("a write refused on the low disk was stored")
	}
}

// TestClusterDiskLowLeaderHandsOff: the leader of an R3 bucket whose disk
// goes low hands its leadership to a replica on another node, so writes
// made through the other nodes go on; writes through it are refused
// with 10023; once its disk has room it catches up on what it missed.
func TestClusterDiskLowLeaderHandsOff(t *testing.T) {
	tc := startTestCluster(t, 3, nil)
	ctx := testCtx(t)
	if _, err := tc.nodes[1].CreateBucket(ctx, BucketConfig{Name: "b", Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	leader := tc.bucketLeader("b")
	other := leader%3 + 1
	if _, err := tc.bucketOn(other, "b").Put(ctx, "before", []byte("v")); err != nil {
		t.Fatal(err)
	}

	// The leader's disk is "low": a reserve above any free space, seen at
	// once rather than at the next tick.
	low := tc.nodes[leader]
	low.space.min.Store(math.MaxUint64)
	low.space.check()
	if !low.space.Low() {
		t.Fatal("the guard did not see the disk as low")
	}
	lb := tc.bucketOn(leader, "b")
	if lb.group.IsLeader() {
		t.Fatal("the node with a low disk still leads the bucket after handing off")
	}
	for i := range 20 {
		if _, err := tc.bucketOn(other, "b").Put(ctx, fmt.Sprintf("during.%d", i), []byte("v")); err != nil {
			t.Fatalf("put %d through a node with room: %v", i, err)
		}
	}
	if _, err := lb.Put(ctx, "refused", []byte("v")); !errors.Is(err, ErrInsufficientStorage) {
		t.Fatalf("put through the node with a low disk: %v, want insufficient resources", err)
	}

	low.space.min.Store(1)
	low.space.check()
	eventually(t, 10*time.Second, "the node catches up once its disk has room", func() error {
		e, err := lb.Get(ctx, "during.19", ReadOptions{Stale: true})
		if err != nil {
			return err
		}
		if string(e.Value) != "v" {
			return fmt.Errorf("during.19 = %q", e.Value)
		}
		return nil
	})
}
