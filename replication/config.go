package replication

import (
	"log/slog"
	"time"
)

// Config tunes the scheduler and every group it drives.
type Config struct {
	// NodeID is this node's raft ID in every group.
	NodeID uint64
	// TickInterval is the length of one raft tick.
	TickInterval time.Duration
	// ElectionTicks is the election timeout in ticks (a follower that hears
	// nothing from a leader for this long campaigns).
	ElectionTicks int
	// HeartbeatTicks is the leader's heartbeat interval in ticks.
	HeartbeatTicks int
	// Workers is the number of goroutines that drive groups.
	Workers int
	// CompactEvery truncates a group's log when this many applied entries
	// have accumulated beyond the last truncation.
	CompactEvery uint64
	// CompactKeep is how many applied entries stay in the log after
	// truncation, so that slightly lagging followers catch up from the log.
	CompactKeep uint64
	// Quiesce lets idle groups of several replicas stop ticking and
	// heartbeating (see quiesce.go).
	Quiesce bool
	// MaxUncommittedBytes bounds proposals waiting to commit in a group;
	// beyond it proposals are refused (back-pressure).
	MaxUncommittedBytes uint64
	// DiskLow, when set, reports whether the node's data disk is below
	// its free-space reserve. While it is, proposals made here are
	// refused (ErrDiskLow) and entries sent by a leader, proposals
	// forwarded to this one and leadership handed to it are dropped
	// unread, so raft adds nothing to the disk: Pebble cannot survive a failed WAL write, and the
	// reserve is what lets the node stay up and say why it refuses.
	// Raft retries the dropped appends once space is back.
	DiskLow func() bool
	// Logger receives structured logs.
	Logger *slog.Logger
}

// DefaultConfig returns the defaults for a node with the given raft ID.
func DefaultConfig(nodeID uint64) Config {
	return Config{
		NodeID:              nodeID,
		TickInterval:        100 * time.Millisecond,
		ElectionTicks:       10,
		HeartbeatTicks:      1,
		Workers:             8,
		CompactEvery:        10000,
		CompactKeep:         1000,
		Quiesce:             true,
		MaxUncommittedBytes: 256 << 20,
		Logger:              slog.Default(),
	}
}
