package natsserver

import (
	"crypto/rand"
	"encoding/base64"
	"time"

	"github.com/cairnkv/cairn/node/natsproto"
	"github.com/nats-io/nkeys"
)

// nats-server's texts for failed authentication.
const (
	errTextAuthViolation = "Authorization Violation"
	errTextAuthTimeout   = "Authentication Timeout"
)

// authRequired reports whether clients must authenticate.
func (s *Server) authRequired() bool { return s.cfg.Authorize != nil || s.cfg.AuthorizeNKey != nil }

// newNonce is a connection's nkey challenge, as nats-server makes it:
// 11 random bytes, base64url without padding; clients sign its text.
func newNonce() string {
	var raw [11]byte
	_, _ = rand.Read(raw[:])
	return base64.RawURLEncoding.EncodeToString(raw[:])
}

// nkeySigned reports whether opts signs nonce with an nkey AuthorizeNKey
// accepts (as nats-server, the signature in base64url, or standard
// base64).
func (s *Server) nkeySigned(opts *natsproto.Connect, nonce string) bool {
	if s.cfg.AuthorizeNKey == nil || nonce == "" || opts.Sig == "" || !s.cfg.AuthorizeNKey(opts.NKey) {
		return false
	}
	sig, err := base64.RawURLEncoding.DecodeString(opts.Sig)
	if err != nil {
		if sig, err = base64.StdEncoding.DecodeString(opts.Sig); err != nil {
			return false
		}
	}
	pub, err := nkeys.FromPublicKey(opts.NKey)
	if err != nil {
		return false
	}
	return pub.Verify([]byte(nonce), sig) == nil
}

// startAuthTimer closes c unless it authenticates within AuthTimeout.
func (c *client) startAuthTimer() {
	if !c.srv.authRequired() {
		c.authed.Store(true)
		return
	}
	c.authTimer = time.AfterFunc(c.srv.cfg.AuthTimeout, func() {
		if !c.authed.Load() {
			c.srv.stats.authFailures.Add(1)
			c.log.Info("client did not authenticate in time", "timeout", c.srv.cfg.AuthTimeout.String())
			c.closeConn("authentication timeout", errTextAuthTimeout, false)
		}
	})
}

// authenticate checks a CONNECT's credentials: true when the client may
// go on (it is authenticated now, or nothing is required).
func (c *client) authenticate(opts *natsproto.Connect) bool {
	if !c.srv.authRequired() {
		return true
	}
	// Every CONNECT is checked, a later one too, as by nats-server; one
	// that names an nkey by its nkey alone.
	ok := false
	switch {
	case opts.NKey != "":
		ok = c.srv.nkeySigned(opts, c.nonce)
	case c.srv.cfg.Authorize != nil:
		ok = c.srv.cfg.Authorize(opts.User, opts.Pass, opts.AuthToken)
	}
	if !ok {
		who := opts.User
		if opts.NKey != "" {
			who = opts.NKey
		}
		c.authViolation(who)
		return false
	}
	c.authed.Store(true)
	if c.authTimer != nil {
		c.authTimer.Stop()
	}
	return true
}

// authViolation refuses a client that presented wrong credentials or
// none, as nats-server does: -ERR 'Authorization Violation', then close.
func (c *client) authViolation(user string) {
	c.srv.stats.authFailures.Add(1)
	// Never the password or token: only who it claimed to be.
	c.log.Warn("client authorization violation", "user", user)
	c.closeConn("authorization violation", errTextAuthViolation, false)
}
