package transport

import "sync/atomic"

// Stats is a point-in-time view of the transport.
type Stats struct {
	Peers map[uint64]PeerStats
	// ConnsAccepted and ConnsRejected count accepted connections that
	// passed or failed the handshake (or the connection limit).
	ConnsAccepted, ConnsRejected uint64
	// TLSFailures counts accepted connections whose TLS handshake failed
	// (also counted in ConnsRejected).
	TLSFailures uint64
	// Snapshot streams by outcome.
	SnapshotsSent, SnapshotSendFailures        uint64
	SnapshotsReceived, SnapshotReceiveFailures uint64
}

// PeerStats describes one peer.
type PeerStats struct {
	Connected   bool   // our stream connection to it is up
	Down        bool   // the last dial failed; messages are being dropped
	Addr        string // address of the last connection
	QueuedBytes int
	QueuedItems int
	SentMsgs    uint64 // raft messages and calls written
	SentFrames  uint64 // raft frames: fewer than SentMsgs when batching works
	Writes      uint64 // write syscalls that carried messages or calls
	SentBytes   uint64
	RecvMsgs    uint64 // raft messages delivered to the Handler
	RecvFrames  uint64
	RecvBytes   uint64
	Dropped     uint64 // raft messages dropped (queue full, peer down, write failed)
	Errors      uint64 // failed dials, writes, and bad or broken connections
	Connects    uint64 // successful dials
}

type counters struct {
	connsAccepted, connsRejected       atomic.Uint64
	tlsFailures                        atomic.Uint64
	snapsSent, snapSendFailures        atomic.Uint64
	snapsReceived, snapReceiveFailures atomic.Uint64
}

type peerCounters struct {
	sentMsgs, sentFrames, writes, sentBytes atomic.Uint64
	recvMsgs, recvFrames, recvBytes         atomic.Uint64
	dropped, errors, connects               atomic.Uint64
}

func (c *peerCounters) wrote(items, frames, bytes int) {
	c.sentBytes.Add(uint64(bytes))
	if items == 0 {
		return // a keepalive alone
	}
	c.sentMsgs.Add(uint64(items))
	c.sentFrames.Add(uint64(frames))
	c.writes.Add(1)
}

// read counts one frame received.
func (c *peerCounters) read(payload int) {
	c.recvFrames.Add(1)
	c.recvBytes.Add(uint64(payload + frameHeaderLen))
}

// Stats returns the current counters and queue depths.
func (t *Transport) Stats() Stats {
	t.mu.Lock()
	peers := make([]*peer, 0, len(t.peers))
	for _, p := range t.peers {
		peers = append(peers, p)
	}
	t.mu.Unlock()
	s := Stats{
		Peers:                   make(map[uint64]PeerStats, len(peers)),
		ConnsAccepted:           t.stats.connsAccepted.Load(),
		ConnsRejected:           t.stats.connsRejected.Load(),
		TLSFailures:             t.stats.tlsFailures.Load(),
		SnapshotsSent:           t.stats.snapsSent.Load(),
		SnapshotSendFailures:    t.stats.snapSendFailures.Load(),
		SnapshotsReceived:       t.stats.snapsReceived.Load(),
		SnapshotReceiveFailures: t.stats.snapReceiveFailures.Load(),
	}
	for _, p := range peers {
		s.Peers[p.id] = p.stats()
	}
	return s
}

func (p *peer) stats() PeerStats {
	p.mu.Lock()
	ps := PeerStats{
		Connected:   p.state == peerUp,
		Down:        p.state == peerDown,
		Addr:        p.addr,
		QueuedBytes: p.qbytes,
		QueuedItems: p.pendingLocked(),
	}
	p.mu.Unlock()
	c := &p.c
	ps.SentMsgs, ps.SentFrames, ps.Writes, ps.SentBytes = c.sentMsgs.Load(), c.sentFrames.Load(), c.writes.Load(), c.sentBytes.Load()
	ps.RecvMsgs, ps.RecvFrames, ps.RecvBytes = c.recvMsgs.Load(), c.recvFrames.Load(), c.recvBytes.Load()
	ps.Dropped, ps.Errors, ps.Connects = c.dropped.Load(), c.errors.Load(), c.connects.Load()
	return ps
}
