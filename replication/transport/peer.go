package transport

import (
	"net"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3/raftpb"
)

// peerState is what the writer knows of a peer's reachability.
type peerState uint8

const (
	// peerIdle: not connected, and no dial has failed since the last
	// connection. Messages queue: a dial is on its way.
	peerIdle peerState = iota
	peerUp
	// peerDown: the last dial failed. Raft messages are dropped at once
	// (and reported) instead of queueing for a peer that may be gone for
	// minutes; the writer redials after its backoff.
	peerDown
)

// item is one queued unit of outbound work: a raft message or a call.
type item struct {
	group uint64
	msg   raftpb.Message
	size  int // encoded size of msg; for a call, its whole frame
	call  *call
}

// peer is the state kept for one remote node: the outbound queue drained
// by its writer goroutine, calls awaiting responses, and counters.
type peer struct {
	t      *Transport
	id     uint64
	notify chan struct{} // wakes the writer; capacity 1

	mu     sync.Mutex
	queue  []item // queue[head:] is pending
	head   int
	qbytes int
	state  peerState
	// wanted: something was dropped while down; the writer should
	// redial after its backoff even though nothing is queued.
	wanted  bool
	gen     uint64 // current connection's generation
	calls   map[uint64]*call
	inbound net.Conn // the peer's current stream connection to us
	addr    string
	// heard is when a read on the peer's stream connection last began
	// (unix nanoseconds): keepalives arrive every KeepaliveInterval.
	heard atomic.Int64

	c peerCounters
}

// peerFor returns the peer, creating it (and its writer) on first use; nil
// once closed or when too many peers are known.
func (t *Transport) peerFor(id uint64) *peer {
	t.mu.Lock()
	defer t.mu.Unlock()
	if p, ok := t.peers[id]; ok {
		return p
	}
	if t.closed || len(t.peers) >= maxPeers {
		return nil
	}
	p := &peer{t: t, id: id, notify: make(chan struct{}, 1), calls: map[uint64]*call{}}
	t.peers[id] = p
	t.spawnLocked(p.run)
	return p
}

func (p *peer) wake() {
	select {
	case p.notify <- struct{}{}:
	default:
	}
}

// enqueueRaft queues the messages of msgs addressed to this peer, all under
// one lock so that one Send's messages reach the writer together and share
// a frame. It returns how many were dropped.
func (p *peer) enqueueRaft(group uint64, msgs []raftpb.Message) (dropped int) {
	maxMsg := p.t.cfg.MaxFrameBytes - frameHeaderLen - raftMsgOverhead
	p.mu.Lock()
	for i := range msgs {
		m := &msgs[i]
		if m.To != p.id || m.Type == raftpb.MsgSnap {
			continue
		}
		size := m.Size()
		switch {
		case size > maxMsg:
			p.t.log.Error("peer transport: raft message exceeds the frame limit; dropped",
				"peer", p.id, "group", group, "type", m.Type.String(), "bytes", size, "max_frame", p.t.cfg.MaxFrameBytes)
		case p.state == peerDown:
			p.wanted = true
		case p.qbytes+size+raftMsgOverhead > p.t.cfg.MaxQueueBytes:
		default:
			p.queue = append(p.queue, item{group: group, msg: *m, size: size})
			p.qbytes += size + raftMsgOverhead
			continue
		}
		dropped++
	}
	p.mu.Unlock()
	if dropped > 0 {
		p.c.dropped.Add(uint64(dropped))
		p.t.rep.unreachable(group, p.id)
	}
	p.wake()
	return dropped
}

// enqueueCall queues a call request and registers it for its response.
func (p *peer) enqueueCall(c *call) error {
	p.mu.Lock()
	if p.qbytes+c.size > p.t.cfg.MaxQueueBytes {
		p.mu.Unlock()
		return ErrQueueFull
	}
	p.calls[c.id] = c
	p.queue = append(p.queue, item{size: c.size, call: c})
	p.qbytes += c.size
	p.mu.Unlock()
	p.wake()
	return nil
}

// take moves pending items into dst, at least one and then up to limit
// bytes, marking calls as sent on connection gen. Calls whose caller gave
// up are skipped.
func (p *peer) take(dst []item, limit int) []item {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for p.head < len(p.queue) {
		it := &p.queue[p.head]
		cost := it.size
		if it.call == nil {
			cost += raftMsgOverhead
		}
		if n > 0 && n+cost > limit {
			break
		}
		n += cost
		p.qbytes -= cost
		if it.call == nil || it.call.ctx.Err() == nil {
			if it.call != nil {
				it.call.gen = p.gen
			}
			dst = append(dst, *it)
		}
		*it = item{}
		p.head++
	}
	p.compactLocked()
	return dst
}

// compactLocked reclaims the consumed head of the queue, and lets a large
// backing array go once a burst has drained.
func (p *peer) compactLocked() {
	switch {
	case p.head == len(p.queue) && cap(p.queue) > 4096:
		p.queue, p.head = nil, 0
	case p.head == len(p.queue):
		p.queue, p.head = p.queue[:0], 0
	case p.head > len(p.queue)/2:
		k := copy(p.queue, p.queue[p.head:])
		clear(p.queue[k:])
		p.queue, p.head = p.queue[:k], 0
	}
}

func (p *peer) pendingLocked() int { return len(p.queue) - p.head }

// setInbound records the peer's new stream connection and returns the one
// it replaces. A peer dials anew only when it lost its connection, so an
// older one is stale (a restarted process, a half-open socket) and closing
// it frees its goroutine now rather than at its read deadline.
func (p *peer) setInbound(c net.Conn) net.Conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	prev := p.inbound
	p.inbound = c
	return prev
}

// clearInbound forgets c if it is still the peer's current connection,
// and reports whether it was.
func (p *peer) clearInbound(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.inbound == c {
		p.inbound = nil
		return true
	}
	return false
}

// LastHeard returns when node last sent anything on its stream
// connection to this one (raft traffic or keepalives); zero if it never
// has. Raft groups that quiesce exchange nothing while idle, so this is
// how long ago a node was heard from at all.
func (t *Transport) LastHeard(node uint64) time.Time {
	t.mu.Lock()
	p := t.peers[node]
	t.mu.Unlock()
	if p == nil {
		return time.Time{}
	}
	if ns := p.heard.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}
