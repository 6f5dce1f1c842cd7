package natsserver

import (
	"time"

	"github.com/cairnkv/cairn/node/natsproto"
)

// nats-server's texts for failed authentication.
const (
	errTextAuthViolation = "Authorization Violation"
	errTextAuthTimeout   = "Authentication Timeout"
)

// authRequired reports whether clients must authenticate.
func (s *Server) authRequired() bool { return s.cfg.Authorize != nil }

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
	// Every CONNECT is checked, a later one too, as by nats-server.
	if !c.srv.cfg.Authorize(opts.User, opts.Pass, opts.AuthToken) {
		c.authViolation(opts.User)
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
