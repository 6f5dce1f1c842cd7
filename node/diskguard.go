package node

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// diskCheckInterval is how often the guard looks at the free space. A
// write burst can use what the disk gains in one interval; the reserve
// (MinFreeDisk, 64 MiB by default) is far more than a node writes in it.
const diskCheckInterval = 250 * time.Millisecond

// diskGuard watches the free space of the filesystem that holds the data
// directory and says when it falls below the reserve. Pebble cannot go
// on after a WAL write fails (it stops the process), so the node stops
// adding raft entries while the disk is low (replication.Config.DiskLow)
// and tells clients why; it serves reads meanwhile and takes writes
// again as soon as space is back.
type diskGuard struct {
	dir  string
	min  atomic.Uint64 // the reserve in bytes; 0: no guard
	lg   *slog.Logger
	low  atomic.Bool
	free atomic.Uint64
	// onLow runs each time the disk goes low, before the next check.
	onLow func()
}

func newDiskGuard(dir string, min int64, lg *slog.Logger) *diskGuard {
	g := &diskGuard{dir: dir, lg: lg}
	g.min.Store(uint64(max(min, 0)))
	g.check()
	return g
}

// Low reports whether the disk was below the reserve at the last check.
func (g *diskGuard) Low() bool { return g.low.Load() }

// check reads the free space once. A filesystem it cannot read (a data
// directory on an in-memory filesystem in tests) counts as not low.
func (g *diskGuard) check() {
	reserve := g.min.Load()
	if reserve == 0 {
		return
	}
	var st unix.Statfs_t
	if err := unix.Statfs(g.dir, &st); err != nil {
		return
	}
	free := st.Bavail * uint64(st.Bsize)
	g.free.Store(free)
	low := free < reserve
	if g.low.Swap(low) != low {
		if low {
			g.lg.Error("data disk below its free-space reserve: refusing writes until space is freed",
				"dir", g.dir, "free_bytes", free, "min_free_disk", reserve)
			if g.onLow != nil {
				g.onLow() // the next check waits for it
			}
		} else {
			g.lg.Warn("data disk above its free-space reserve again: taking writes",
				"dir", g.dir, "free_bytes", free, "min_free_disk", reserve)
		}
	}
}

func (g *diskGuard) run(ctx context.Context) {
	if g.min.Load() == 0 {
		return
	}
	t := time.NewTicker(diskCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			g.check()
		}
	}
}

// DiskSpace reports the free space of the data directory's filesystem at
// the last check, the reserve (--min-free-disk; 0: no guard), and whether
// the free space is below it, so that writes are refused.
func (n *Node) DiskSpace() (low bool, free, reserve uint64) {
	return n.space.Low(), n.space.free.Load(), n.space.min.Load()
}
