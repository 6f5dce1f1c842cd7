package transport

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"
)

// Config tunes a Transport. Zero fields take the defaults of
// DefaultConfig; only NodeID and Resolve have none.
type Config struct {
	// NodeID is this node's ID; peers must dial it under this ID.
	NodeID uint64
	// ListenAddr is the peer port Start listens on, host:port. Port 0
	// picks a free port (tests); Addr reports it.
	ListenAddr string
	// Resolve returns a peer's address. It is asked again on every dial,
	// so the address book can change (membership fills it).
	Resolve func(nodeID uint64) (addr string, ok bool)
	// MaxQueueBytes bounds each peer's outbound queue. Beyond it raft
	// messages are dropped and counted; raft retries.
	MaxQueueBytes int
	// DialTimeout bounds a dial plus handshake, in both directions.
	DialTimeout time.Duration
	// WriteTimeout bounds one write to a peer; a peer that does not read
	// for this long is disconnected.
	WriteTimeout time.Duration
	// ReconnectMin and ReconnectMax bound the jittered exponential backoff
	// between dials to a peer that failed.
	ReconnectMin, ReconnectMax time.Duration
	// KeepaliveInterval is how often an open connection is pinged; one that
	// stays silent for deadAfterPings intervals is considered dead, which
	// catches peers that vanished without closing (power loss, partition).
	KeepaliveInterval time.Duration
	// MaxFrameBytes is the largest frame sent or accepted. A single raft
	// message larger than this cannot be carried and is dropped.
	MaxFrameBytes int
	// SnapshotChunkBytes is the size of a snapshot chunk on the wire.
	SnapshotChunkBytes int
	// SnapshotMemoryBytes is how much of an incoming snapshot is staged in
	// memory; the rest spills to an unlinked temp file in SnapshotDir.
	SnapshotMemoryBytes int64
	// SnapshotDir holds spilled snapshot stages (default os.TempDir()).
	SnapshotDir string
	// MaxSnapshotBytes rejects incoming snapshots larger than this.
	MaxSnapshotBytes int64
	// SnapshotTimeout is the longest a snapshot stream may stall: the
	// receiver waiting for the next chunk, the sender waiting for the ack.
	SnapshotTimeout time.Duration
	// MaxSnapshots bounds concurrent snapshot streams in each direction.
	MaxSnapshots int
	// MaxConcurrentCalls bounds call handlers running at once; beyond it a
	// call is answered ErrBusy instead of stalling raft traffic.
	MaxConcurrentCalls int
	// Key, when set, authenticates every connection in both directions
	// (see auth.go): only a node holding the same key gets a connection
	// through the handshake. At least MinKeyBytes; nil: no
	// authentication.
	Key []byte
	// AcceptKeys are keys a peer may also prove itself with, besides
	// Key: while a cluster moves to a new key, nodes hold both (see
	// auth.go). Each at least MinKeyBytes; only with Key.
	AcceptKeys [][]byte
	// TLS, when set, encrypts every connection (tls.go). Peers must
	// all have it or none: a TLS node and a plaintext one refuse each
	// other.
	TLS *TLS
	// Logger receives structured logs.
	Logger *slog.Logger
}

// deadAfterPings keepalive intervals of silence close a connection.
const deadAfterPings = 5

// DefaultConfig returns the defaults for a node. Resolve must still be set.
func DefaultConfig(nodeID uint64, listenAddr string) Config {
	return Config{
		NodeID:              nodeID,
		ListenAddr:          listenAddr,
		MaxQueueBytes:       64 << 20,
		DialTimeout:         2 * time.Second,
		WriteTimeout:        5 * time.Second,
		ReconnectMin:        20 * time.Millisecond,
		ReconnectMax:        time.Second,
		KeepaliveInterval:   time.Second,
		MaxFrameBytes:       16 << 20,
		SnapshotChunkBytes:  1 << 20,
		SnapshotMemoryBytes: 64 << 20,
		SnapshotDir:         os.TempDir(),
		MaxSnapshotBytes:    64 << 30,
		SnapshotTimeout:     time.Minute,
		MaxSnapshots:        4,
		MaxConcurrentCalls:  1024,
		Logger:              slog.Default(),
	}
}

// withDefaults fills zero fields and checks the result.
func (c Config) withDefaults() (Config, error) {
	d := DefaultConfig(c.NodeID, c.ListenAddr)
	setDefault(&c.MaxQueueBytes, d.MaxQueueBytes)
	setDefault(&c.DialTimeout, d.DialTimeout)
	setDefault(&c.WriteTimeout, d.WriteTimeout)
	setDefault(&c.ReconnectMin, d.ReconnectMin)
	setDefault(&c.ReconnectMax, d.ReconnectMax)
	setDefault(&c.KeepaliveInterval, d.KeepaliveInterval)
	setDefault(&c.MaxFrameBytes, d.MaxFrameBytes)
	setDefault(&c.SnapshotChunkBytes, d.SnapshotChunkBytes)
	setDefault(&c.SnapshotMemoryBytes, d.SnapshotMemoryBytes)
	setDefault(&c.SnapshotDir, d.SnapshotDir)
	setDefault(&c.MaxSnapshotBytes, d.MaxSnapshotBytes)
	setDefault(&c.SnapshotTimeout, d.SnapshotTimeout)
	setDefault(&c.MaxSnapshots, d.MaxSnapshots)
	setDefault(&c.MaxConcurrentCalls, d.MaxConcurrentCalls)
	if c.Logger == nil {
		c.Logger = d.Logger
	}
	switch {
	case c.NodeID == 0:
		return c, errors.New("transport: NodeID must not be 0")
	case checkKeys(c.Key, c.AcceptKeys) != nil:
		return c, checkKeys(c.Key, c.AcceptKeys)
	case c.TLS.check() != nil:
		return c, c.TLS.check()
	case c.Resolve == nil:
		return c, errors.New("transport: Resolve is required")
	case c.ReconnectMax < c.ReconnectMin:
		return c, fmt.Errorf("transport: ReconnectMax %v < ReconnectMin %v", c.ReconnectMax, c.ReconnectMin)
	case c.MaxFrameBytes < minFrameBytes:
		return c, fmt.Errorf("transport: MaxFrameBytes %d below %d", c.MaxFrameBytes, minFrameBytes)
	case c.SnapshotChunkBytes > c.MaxFrameBytes:
		return c, fmt.Errorf("transport: SnapshotChunkBytes %d exceeds MaxFrameBytes %d", c.SnapshotChunkBytes, c.MaxFrameBytes)
	}
	return c, nil
}

// minFrameBytes leaves room for any fixed-size frame and a useful message.
const minFrameBytes = 4 << 10

func setDefault[T comparable](v *T, d T) {
	var zero T
	if *v == zero {
		*v = d
	}
}
