package transport

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"time"
)

// dial connects to a peer and completes the handshake. The connection is
// tracked; the caller untracks it.
func (t *Transport) dial(to uint64, kind connKind) (net.Conn, error) {
	addr, ok := t.cfg.Resolve(to)
	if !ok {
		return nil, fmt.Errorf("node %d: %w", to, ErrUnknownPeer)
	}
	d := net.Dialer{Timeout: t.cfg.DialTimeout, LocalAddr: t.dialFrom()}
	c, err := d.DialContext(t.ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dialing node %d at %s: %w", to, addr, err)
	}
	if t.cfg.TLS != nil {
		c = t.clientTLS(c, addr)
	}
	if !t.track(c, false) {
		return nil, ErrClosed
	}
	if err := t.handshake(c, to, kind); err != nil {
		t.untrack(c)
		return nil, fmt.Errorf("node %d at %s: %w", to, addr, err)
	}
	return c, nil
}

// dialFrom is the local address peers are dialed from: the listening IP
// when it is a specific one, so a node's connections come from the address
// it is known by (firewall rules and partitions can name it); nil (the
// kernel's choice) when it listens on all interfaces.
func (t *Transport) dialFrom() net.Addr {
	host, _, err := net.SplitHostPort(t.cfg.ListenAddr)
	if err != nil {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || ip.IsUnspecified() {
		return nil
	}
	return &net.TCPAddr{IP: ip}
}

func (t *Transport) handshake(c net.Conn, to uint64, kind connKind) error {
	deadline := time.Now().Add(t.cfg.DialTimeout)
	c.SetDeadline(deadline)
	ctx, cancel := context.WithDeadline(t.ctx, deadline)
	err := handshakeTLS(ctx, c)
	cancel()
	if err != nil {
		return err
	}
	keyed := t.cfg.Key != nil
	h := hello{version: protocolVersion, kind: kind, from: t.cfg.NodeID, to: to, keepalive: t.cfg.KeepaliveInterval, nonce: newNonce()}
	if keyed {
		h.flags = flagKeyed
	}
	hb := h.encode()
	if _, err := c.Write(hb); err != nil {
		return fmt.Errorf("sending hello: %w", err)
	}
	rb := make([]byte, replyLen)
	if _, err := io.ReadFull(c, rb); err != nil {
		return fmt.Errorf("reading handshake reply: %w", err)
	}
	r, err := decodeReply(rb)
	if err != nil {
		return err
	}
	switch {
	case r.status == replyNeedKey || r.status == replyNoKey:
		return fmt.Errorf("%w: peer (node %d) refused the connection: %s", errAuth, r.node, r.status)
	case r.status != replyOK:
		return fmt.Errorf("peer (node %d) refused the connection: %s", r.node, r.status)
	case r.node != to:
		return fmt.Errorf("%w: the address answers as node %d", errProtocol, r.node)
	}
	if keyed {
		acceptor := func(k []byte) [macLen]byte { return acceptorMAC(k, hb, rb[:replyMACOffset]) }
		if r.flags&flagKeyed == 0 || !t.proves(r.mac[:], acceptor) {
			return fmt.Errorf("%w: the peer does not hold this cluster's peer key (a different --peer-key?)", errAuth)
		}
		proof := dialerMAC(t.cfg.Key, hb, rb)
		if _, err := c.Write(proof[:]); err != nil {
			return fmt.Errorf("sending proof: %w", err)
		}
	}
	c.SetDeadline(time.Time{})
	return nil
}

// backoff is exponential between min and max, with jitter so that nodes
// that lost a peer together do not all redial it in the same instant.
type backoff struct {
	min, max, cur time.Duration
}

// next returns a delay in [cur/2, cur] and doubles cur.
func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur = min(2*b.cur, b.max)
	}
	half := b.cur / 2
	return half + rand.N(b.cur-half+1)
}

func (b *backoff) reset() { b.cur = 0 }
