package transport

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"
)

func (t *Transport) acceptLoop(ln net.Listener) {
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if t.closing() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off rather
			// than spin, and keep serving once it passes.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			t.log.Warn("peer transport: accept failed", "err", err, "retry_in", delay)
			if !t.sleep(delay) {
				return
			}
			continue
		}
		delay = 0
		if !t.track(c, true) {
			t.stats.connsRejected.Add(1)
			t.log.Warn("peer transport: refusing connection", "remote", c.RemoteAddr().String(), "reason", "too many connections or closing")
			continue
		}
		if !t.spawn(func() { t.serveConn(c) }) {
			t.untrack(c)
		}
	}
}

// serveConn runs an accepted connection: handshake, then its kind's loop.
func (t *Transport) serveConn(c net.Conn) {
	defer t.untrack(c)
	dr := &deadlineReader{c: c}
	br := bufio.NewReaderSize(dr, 64<<10)
	// A client that connects and says nothing is dropped after this.
	c.SetDeadline(time.Now().Add(t.cfg.DialTimeout))
	if t.cfg.TLS != nil {
		tc, err := t.serverTLS(c)
		if err != nil {
			t.stats.connsRejected.Add(1)
			t.stats.tlsFailures.Add(1)
			t.logRejected(c, err)
			return
		}
		// The raw connection stays tracked (closing it closes this).
		c, dr.c = tc, tc
	}
	h, err := t.acceptHello(c, br)
	if err != nil {
		t.stats.connsRejected.Add(1)
		t.logRejected(c, err)
		return
	}
	c.SetDeadline(time.Time{})
	t.stats.connsAccepted.Add(1)
	switch h.kind {
	case kindStream:
		dr.timeout = deadAfterPings * max(h.keepalive, 10*time.Millisecond)
		t.serveStream(c, br, dr, h)
	case kindSnapshot:
		dr.timeout = t.cfg.SnapshotTimeout
		t.serveSnapshot(c, br, h)
	}
}

func (t *Transport) logRejected(c net.Conn, err error) {
	lvl := t.log.Warn
	if errors.Is(err, io.EOF) || t.closing() {
		// Closed before saying anything: a port probe or our own Close.
		lvl = t.log.Debug
	}
	lvl("peer transport: closing connection", "remote", c.RemoteAddr().String(), "reason", err)
}

// acceptHello reads and judges the dialer's hello, answers it, and, when
// this node authenticates, checks the dialer's proof.
func (t *Transport) acceptHello(c net.Conn, br *bufio.Reader) (hello, error) {
	b := make([]byte, helloLen)
	if _, err := io.ReadFull(br, b[:versionLen]); err != nil {
		return hello{}, fmt.Errorf("reading hello: %w", err)
	}
	if [4]byte(b[0:4]) != magic {
		return hello{}, fmt.Errorf("%w: bad magic %q%s", errProtocol, b[0:4], tlsHelloHint(b))
	}
	if v := binary.BigEndian.Uint16(b[4:]); v != protocolVersion {
		// Another version's hello may be another length: answer before
		// waiting for the rest.
		_, _ = c.Write(reply{version: protocolVersion, status: replyBadVersion, node: t.cfg.NodeID}.encode())
		return hello{}, fmt.Errorf("%w: protocol version %d, want %d", errProtocol, v, protocolVersion)
	}
	if _, err := io.ReadFull(br, b[versionLen:]); err != nil {
		return hello{}, fmt.Errorf("reading hello: %w", err)
	}
	h, err := decodeHello(b)
	if err != nil {
		return h, err
	}
	keyed := t.cfg.Key != nil
	status := replyOK
	switch {
	case h.to != t.cfg.NodeID:
		status = replyWrongNode
		err = fmt.Errorf("%w: node %d dialed node %d, this is node %d", errProtocol, h.from, h.to, t.cfg.NodeID)
	case h.from == t.cfg.NodeID:
		status = replyRefused
		err = fmt.Errorf("%w: dialer claims this node's ID %d", errProtocol, h.from)
	case keyed && h.flags&flagKeyed == 0:
		status = replyNeedKey
		err = fmt.Errorf("%w: the dialer (claiming node %d) has no peer key", errAuth, h.from)
	case !keyed && h.flags&flagKeyed != 0:
		status = replyNoKey
		err = fmt.Errorf("%w: node %d authenticates with a peer key and this node has none", errAuth, h.from)
	}
	r := reply{version: protocolVersion, status: status, node: t.cfg.NodeID, nonce: newNonce()}
	if keyed {
		r.flags = flagKeyed
	}
	rb := r.encode()
	if keyed && status == replyOK {
		r.mac = acceptorMAC(t.cfg.Key, b, rb[:replyMACOffset])
		rb = r.encode()
	}
	if _, werr := c.Write(rb); werr != nil && err == nil {
		err = fmt.Errorf("writing handshake reply: %w", werr)
	}
	if err != nil || !keyed {
		return h, err
	}
	proof := make([]byte, macLen)
	if _, err := io.ReadFull(br, proof); err != nil {
		return h, fmt.Errorf("%w: reading node %d's proof: %w", errAuth, h.from, err)
	}
	if !t.proves(proof, func(k []byte) [macLen]byte { return dialerMAC(k, b, rb) }) {
		return h, fmt.Errorf("%w: the dialer (claiming node %d) does not hold this cluster's peer key", errAuth, h.from)
	}
	return h, nil
}

// deadlineReader pushes the read deadline forward as reads happen, so a
// connection dies after `timeout` of silence however long a frame is.
type deadlineReader struct {
	c       net.Conn
	timeout time.Duration // 0: leave the deadline alone
	set     time.Time
	// heard, when set, takes the time of every read (a peer's stream
	// connection: see Transport.LastHeard).
	heard *atomic.Int64
}

func (d *deadlineReader) Read(b []byte) (int, error) {
	if d.timeout > 0 {
		// Refreshing on every read would cost a timer update per
		// syscall; a quarter of the timeout is close enough.
		now := time.Now()
		if now.Sub(d.set) > d.timeout/4 {
			d.c.SetReadDeadline(now.Add(d.timeout))
			d.set = now
		}
		if d.heard != nil {
			d.heard.Store(now.UnixNano())
		}
	}
	return d.c.Read(b)
}
