package transport

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
)

// Peer authentication. Every node of a cluster holds the same key
// (Config.Key, from --peer-key). In a handshake each end proves it holds
// the key by a MAC over both ends' fresh nonces and the handshake's
// fields, so a recorded handshake cannot be replayed and neither end
// learns anything about the key. Without the key, a connection ends at
// the handshake: no raft message, snapshot or call from it reaches the
// node.
//
// Rotation: a node proves itself with its own key (Config.Key) and
// accepts a peer's proof made with that key or any of Config.AcceptKeys.
// A cluster moves from key A to key B in three rolling restarts: every
// node holds A and accepts B; then holds B and accepts A; then holds B
// alone. At each step every pair of nodes shares a key one proves with
// and the other accepts.
//
// This authenticates who opens a connection; it does not encrypt or
// sign what flows after it. Someone able to rewrite TCP segments between
// two nodes can still tamper with an established connection: across an
// untrusted network, run the peer port over a VPN or an encrypted
// overlay (WireGuard, IPsec).

const macLen = sha256.Size

// MinKeyBytes is the shortest peer key accepted.
const MinKeyBytes = 16

var errAuth = errors.New("peer authentication failed")

// The two MACs differ by a label, so that one end's proof can never be
// reflected back as the other's.
const (
	labelAcceptor = "cairn peer acceptor\x00"
	labelDialer   = "cairn peer dialer\x00"
)

// acceptorMAC proves the acceptor holds key: it covers the dialer's whole
// hello (its nonce among it) and the reply up to the MAC.
func acceptorMAC(key, helloBytes, replyHead []byte) [macLen]byte {
	return handshakeMAC(key, labelAcceptor, helloBytes, replyHead)
}

// dialerMAC proves the dialer holds key: it covers the hello and the
// whole reply (the acceptor's nonce among it).
func dialerMAC(key, helloBytes, replyBytes []byte) [macLen]byte {
	return handshakeMAC(key, labelDialer, helloBytes, replyBytes)
}

func handshakeMAC(key []byte, label string, parts ...[]byte) [macLen]byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(label))
	for _, p := range parts {
		m.Write(p)
	}
	return [macLen]byte(m.Sum(nil))
}

// checkKeys validates the configured keys.
func checkKeys(key []byte, accept [][]byte) error {
	if key == nil && len(accept) > 0 {
		return errors.New("transport: accepted peer keys without a key of its own")
	}
	for _, k := range append([][]byte{key}, accept...) {
		if k != nil && len(k) < MinKeyBytes {
			return fmt.Errorf("transport: peer key of %d bytes; at least %d", len(k), MinKeyBytes)
		}
	}
	return nil
}

// proves reports whether mac is want(k) for Key or one of AcceptKeys.
func (t *Transport) proves(mac []byte, want func(key []byte) [macLen]byte) bool {
	for _, k := range append([][]byte{t.cfg.Key}, t.cfg.AcceptKeys...) {
		if w := want(k); hmac.Equal(mac, w[:]) {
			return true
		}
	}
	return false
}
