package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
)

// TLS encrypts the peer port (Config.TLS). Every connection, dialed or
// accepted, completes a TLS handshake before the hello; the hello, the
// peer key's proofs and everything after travel inside it. Whether a
// peer must present a certificate, and which CAs are trusted, is the
// configurations' business (the node asks for mutual TLS).
type TLS struct {
	// Server is what accepted connections use.
	Server *tls.Config
	// Client returns what a connection dialed to host (the dialed
	// address's host) uses; it must check the peer's certificate against
	// host (as etcd checks a peer URL's host).
	Client func(host string) *tls.Config
}

// errTLS marks a failed TLS handshake: wrong certificate, unknown CA,
// or a peer that does not speak TLS.
var errTLS = errors.New("peer TLS handshake failed")

func (c *TLS) check() error {
	switch {
	case c == nil:
		return nil
	case c.Server == nil || c.Client == nil:
		return errors.New("transport: TLS needs both a Server and a Client configuration")
	case c.Server.MinVersion != 0 && c.Server.MinVersion < tls.VersionTLS12:
		return errors.New("transport: TLS below 1.2 is not allowed on the peer port")
	}
	return nil
}

// clientTLS wraps a dialed connection; the handshake happens in
// handshakeTLS, under the dial's deadline.
func (t *Transport) clientTLS(c net.Conn, addr string) net.Conn {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	cfg := t.cfg.TLS.Client(host)
	if cfg.MinVersion < tls.VersionTLS12 {
		cfg.MinVersion = tls.VersionTLS12
	}
	return tls.Client(c, cfg)
}

// serverTLS runs the acceptor's side of the handshake (the caller set the
// deadline) and returns the connection to use from then on.
func (t *Transport) serverTLS(c net.Conn) (net.Conn, error) {
	tc := tls.Server(c, t.cfg.TLS.Server)
	if err := tc.HandshakeContext(t.ctx); err != nil {
		return nil, fmt.Errorf("%w: %w%s", errTLS, err, plaintextHint(err))
	}
	return tc, nil
}

// handshakeTLS completes a dialed connection's TLS handshake, when it
// has one.
func handshakeTLS(ctx context.Context, c net.Conn) error {
	tc, ok := c.(*tls.Conn)
	if !ok {
		return nil
	}
	if err := tc.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("%w: %w", errTLS, err)
	}
	return nil
}

// plaintextHint names the likely cause when what arrived instead of a
// TLS ClientHello is this transport's own plaintext hello: a node
// without --peer-tls-cert dialing one with it.
func plaintextHint(err error) string {
	var rh tls.RecordHeaderError
	if errors.As(err, &rh) && [4]byte(rh.RecordHeader[:4]) == magic {
		return " (the peer speaks plaintext: it has no --peer-tls-cert and this node has)"
	}
	return ""
}

// tlsHelloHint does the opposite for a plaintext acceptor: the first
// bytes of a TLS ClientHello where a hello was expected.
func tlsHelloHint(b []byte) string {
	if len(b) >= 3 && b[0] == 0x16 && b[1] == 0x03 {
		return " (a TLS handshake: the peer has --peer-tls-cert and this node has none)"
	}
	return ""
}
