package natsserver

import (
	"context"
	"crypto/tls"
	"net"
	"time"
)

// acceptTLS sends a new connection its INFO in the clear, as nats-server
// does (clients learn from tls_required that they must upgrade), then
// runs the TLS handshake, bounded by TLSTimeout and by Close, and serves
// the connection over TLS. A client that does not complete the handshake
// (one that does not speak TLS sends CONNECT instead) is closed.
func (s *Server) acceptTLS(nc net.Conn, id, gen uint64, info []byte, nonce string) {
	defer s.wg.Done()
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.TLSTimeout)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	go func() {
		select {
		case <-s.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	_ = nc.SetDeadline(time.Now().Add(s.cfg.TLSTimeout))
	tc := tls.Server(nc, s.cfg.TLS)
	_, err := nc.Write(info)
	if err == nil {
		err = tc.HandshakeContext(ctx)
	}
	if err == nil && !stop() {
		err = ctx.Err() // the deadline was cut short meanwhile
	}
	if err == nil {
		err = nc.SetDeadline(time.Time{})
	}
	if err != nil {
		s.stats.tlsFailures.Add(1)
		s.log.Debug("TLS handshake failed", "remote", nc.RemoteAddr().String(), "err", err)
		_ = nc.Close()
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = tc.Close()
		return
	}
	s.startClient(tc, id, gen, nil, nonce)
}
