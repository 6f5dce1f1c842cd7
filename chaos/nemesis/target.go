package nemesis

import (
	"context"
	"time"
)

// Cluster is what every fault needs: nodes by slot, started and ended.
type Cluster interface {
	Size() int
	Name(i int) string
	Running(i int) bool
	Kill(i int) error
	Stop(i int) error
	Restart(ctx context.Context, i int) error
	Pause(i int) error
	Resume(i int) error
	Leader(ctx context.Context, bucket string) (int, error)
	WaitHealthy(ctx context.Context, buckets []string) error
}

// Network cuts and degrades links between nodes (nil: not available).
type Network interface {
	Cut(pairs [][2]int) error
	Loss(slots []int, share float64) error
	Delay(slots []int, d, jitter time.Duration) error
	DelayAvailable() error
	Throttle(slots []int, bitsPerSec int, queue time.Duration) error
	ThrottleAvailable() error
	Heal() error
}

// Disks fills nodes' disks (nil: not available).
type Disks interface {
	FillDisk(i int) error
	FreeDisk(i int) error
}

// Members removes nodes from the cluster and adds fresh ones (nil: not
// available).
type Members interface {
	Remove(ctx context.Context, i int) error
	Join(ctx context.Context, i int) error
}

// Target is the cluster with the optional capabilities it has.
type Target struct {
	Cluster Cluster
	Net     Network
	Disks   Disks
	Members Members
	// Why* say why a capability is missing, for the refusal message.
	WhyNoNet, WhyNoDisks, WhyNoMembers string
}
