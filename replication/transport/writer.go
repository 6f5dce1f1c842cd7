package transport

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// maxWriteBytes bounds one write, so a deep queue drains as a few writes
// that each fit in WriteTimeout on a slow link.
const maxWriteBytes = 4 << 20

// run is the peer's writer goroutine: dial when there is work, write
// until the connection breaks, back off, repeat; until Close.
func (p *peer) run() {
	t := p.t
	bo := backoff{min: t.cfg.ReconnectMin, max: t.cfg.ReconnectMax}
	for {
		if !p.waitWork() {
			return
		}
		c, err := t.dial(p.id, kindStream)
		if err != nil {
			if t.closing() {
				return
			}
			p.dialFailed(err)
		} else {
			bo.reset()
			p.serve(c)
			if t.closing() {
				return
			}
		}
		// After a broken connection as after a failed dial: the peer
		// may be restarting, so wait a little, more each time.
		if !t.sleep(bo.next()) {
			return
		}
	}
}

// waitWork blocks until there is something to send or a dial is wanted.
func (p *peer) waitWork() bool {
	for {
		p.mu.Lock()
		ready := p.pendingLocked() > 0 || p.wanted
		p.wanted = false
		p.mu.Unlock()
		if ready {
			return true
		}
		select {
		case <-p.notify:
		case <-p.t.ctx.Done():
			return false
		}
	}
}

// dialFailed marks the peer down and drops its queued raft messages:
// by the time it is back they are stale, and raft resends what matters.
// Calls stay queued; their callers' contexts bound them.
func (p *peer) dialFailed(err error) {
	p.c.errors.Add(1)
	var groups []uint64
	p.mu.Lock()
	was := p.state
	p.state = peerDown
	kept := p.queue[:0]
	for _, it := range p.queue[p.head:] {
		switch {
		case it.call == nil:
			groups = appendUnique(groups, it.group)
			p.qbytes -= it.size + raftMsgOverhead
		case it.call.ctx.Err() != nil:
			p.qbytes -= it.size
		default:
			kept = append(kept, it)
			continue
		}
		p.c.dropped.Add(1)
	}
	clear(p.queue[len(kept):])
	p.queue, p.head = kept, 0
	p.mu.Unlock()
	for _, g := range groups {
		p.t.rep.unreachable(g, p.id)
	}
	if was != peerDown {
		p.t.log.Warn("peer transport: peer unreachable", "peer", p.id, "err", err)
	} else {
		p.t.log.Debug("peer transport: peer still unreachable", "peer", p.id, "err", err)
	}
}

func appendUnique(s []uint64, v uint64) []uint64 {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}

func (p *peer) connUp(c net.Conn) uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.state = peerUp
	p.gen++
	p.addr = c.RemoteAddr().String()
	p.c.connects.Add(1)
	return p.gen
}

// connLost fails the calls that were written on connection gen: whether
// the peer ran them is unknown, and the caller must decide.
func (p *peer) connLost(gen uint64) {
	var lost []*call
	p.mu.Lock()
	if p.gen == gen && p.state == peerUp {
		p.state = peerIdle
	}
	for id, c := range p.calls {
		if c.gen == gen {
			delete(p.calls, id)
			lost = append(lost, c)
		}
	}
	p.mu.Unlock()
	for _, c := range lost {
		c.finish(nil, fmt.Errorf("call %s to node %d: %w", c.method, p.id, ErrConnLost))
	}
}

// serve writes queued work to c until it breaks or the transport closes.
func (p *peer) serve(c net.Conn) {
	t := p.t
	gen := p.connUp(c)
	t.log.Debug("peer transport: connected", "peer", p.id, "addr", c.RemoteAddr().String())
	dead := make(chan struct{})
	if !t.spawn(func() { defer close(dead); p.readResponses(c) }) {
		t.untrack(c)
		p.connLost(gen)
		return
	}
	// Pings go out on a fixed beat, busy or not, so the peer's pongs keep
	// our read side alive and a silent peer is noticed.
	tick := time.NewTicker(t.cfg.KeepaliveInterval)
	defer tick.Stop()
	var batch []item
	var buf []byte
loop:
	for {
		ping := false
		select {
		case <-dead:
			// Leave the queue for the next connection rather than
			// write it into a dead one.
			break loop
		case <-tick.C:
			ping = true
		default:
		}
		batch = p.take(batch[:0], maxWriteBytes)
		if len(batch) == 0 && !ping {
			select {
			case <-p.notify:
				continue
			case <-tick.C:
				ping = true
			case <-dead:
				break loop
			case <-t.ctx.Done():
				break loop
			}
		}
		var frames int
		buf, frames = p.encode(buf[:0], batch, ping)
		c.SetWriteDeadline(time.Now().Add(t.cfg.WriteTimeout))
		if _, err := c.Write(buf); err != nil {
			p.writeFailed(batch, err)
			break
		}
		p.c.wrote(len(batch), frames, len(buf))
		clear(batch) // drop references to sent entries
		if cap(buf) > retainBytes {
			buf = nil
		}
	}
	t.untrack(c)
	<-dead
	p.connLost(gen)
}

// encode appends the batch as frames: runs of raft messages share a raft
// frame (split only at MaxFrameBytes), each call gets its own. It returns
// the buffer and the number of raft frames.
func (p *peer) encode(buf []byte, batch []item, ping bool) ([]byte, int) {
	maxPayload := p.t.cfg.MaxFrameBytes
	frames, start := 0, -1
	for i := range batch {
		it := &batch[i]
		if start >= 0 && (it.call != nil || len(buf)-start-frameHeaderLen+it.size+raftMsgOverhead > maxPayload) {
			buf, start, frames = finishFrame(buf, start, frameRaft), -1, frames+1
		}
		if it.call != nil {
			var cs int
			buf, cs = beginFrame(buf)
			buf = finishFrame(appendCallReq(buf, it.call.request()), cs, frameCallReq)
			continue
		}
		if start < 0 {
			buf, start = beginFrame(buf)
		}
		buf = appendRaftMsg(buf, it.group, &it.msg, it.size)
	}
	if start >= 0 {
		buf, frames = finishFrame(buf, start, frameRaft), frames+1
	}
	if ping {
		buf = appendFrame(buf, framePing, nil)
	}
	return buf, frames
}

// writeFailed reports the groups whose messages were lost with the write.
// Calls in the batch fail in connLost.
func (p *peer) writeFailed(batch []item, err error) {
	if p.t.closing() {
		return
	}
	if errors.Is(err, net.ErrClosed) {
		// Our reader closed it and said why.
		p.t.log.Debug("peer transport: connection closed under the writer", "peer", p.id)
	} else {
		p.c.errors.Add(1)
		p.t.log.Warn("peer transport: write failed; reconnecting", "peer", p.id, "err", err)
	}
	var groups []uint64
	for i := range batch {
		if batch[i].call == nil {
			groups = appendUnique(groups, batch[i].group)
			p.c.dropped.Add(1)
		}
	}
	for _, g := range groups {
		p.t.rep.unreachable(g, p.id)
	}
}

// readResponses reads what the peer sends back on our connection: pongs
// and call responses. Its silence for deadAfterPings keepalives, or any
// bad frame, closes the connection, which stops the writer too.
func (p *peer) readResponses(c net.Conn) {
	t := p.t
	dr := &deadlineReader{c: c, timeout: deadAfterPings * t.cfg.KeepaliveInterval}
	fr := frameReader{r: bufio.NewReaderSize(dr, 16<<10), max: t.cfg.MaxFrameBytes}
	for {
		typ, payload, err := fr.next()
		if err == nil {
			p.c.read(len(payload))
			switch typ {
			case framePong:
			case frameCallResp:
				err = p.resolveCall(payload)
			default:
				err = fmt.Errorf("%w: frame type %d sent to the dialer", errProtocol, typ)
			}
		}
		if err != nil {
			if !t.closing() && !errors.Is(err, net.ErrClosed) {
				p.c.errors.Add(1)
				level := t.log.Warn
				if errors.Is(err, io.EOF) {
					level = t.log.Info // the peer closed: shutting down or restarting
				}
				level("peer transport: connection to peer closed", "peer", p.id, "addr", c.RemoteAddr().String(), "reason", err)
			}
			c.Close()
			return
		}
	}
}
