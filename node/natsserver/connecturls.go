package natsserver

import (
	"errors"
	"net"
	"slices"

	"github.com/cairnkv/cairn/node/natsproto"
)

// SetConnectURLs sets the client addresses ("host:port") of the servers a
// client may connect to, this one included, which INFO announces as
// connect_urls: a client given one server's URL learns the others and
// fails over to them, as with a nats-server cluster. Clients already
// connected that understand updates (CONNECT protocol 1, as every
// current client library sends) get an INFO with the new list once past
// their handshake (their first PONG); clients
// drop from their pool the servers they learned that it no longer names.
// An empty list announces none, as a lone nats-server does.
func (s *Server) SetConnectURLs(urls []string) {
	urls = normalURLs(urls)
	s.mu.Lock()
	if slices.Equal(urls, s.connectURLs) || s.info.LameDuck {
		// In lame-duck mode the list told is final (see LameDuck).
		s.mu.Unlock()
		return
	}
	s.connectURLs = urls
	clients, line := s.changeInfoLocked(func(info *natsproto.Info) { info.ConnectURLs = urls })
	s.mu.Unlock()
	for _, c := range clients {
		c.queueProto(string(line))
	}
	if line != nil {
		s.log.Info("announcing servers to clients", "connect_urls", urls, "clients_told", len(clients))
	}
}

// LameDuck prepares the server for shutdown as nats-server's lame-duck
// mode does: it stops accepting connections and tells every connected
// client, in an INFO with "ldm": true, that it is going away and which
// servers to move to (others: this one is not among them). Clients stay
// connected and served until Close; a client that handles the
// notification (nats.go's LameDuckModeHandler) can move first.
func (s *Server) LameDuck(others []string) {
	others = normalURLs(others)
	s.mu.Lock()
	if s.info.LameDuck || !s.started || s.closed {
		s.mu.Unlock()
		return
	}
	ln := s.ln
	s.connectURLs = others
	clients, line := s.changeInfoLocked(func(info *natsproto.Info) {
		info.ConnectURLs = others
		info.LameDuck = true
	})
	s.mu.Unlock()
	// The accept loop ends on the closed listener; Close sees it closed.
	if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		s.log.Warn("lame duck: close listener", "err", err)
	}
	for _, c := range clients {
		c.queueProto(string(line))
	}
	s.log.Info("lame duck: no new clients; connected clients told to move", "connect_urls", others, "clients_told", len(clients))
}

// normalURLs sorts urls and drops duplicates; none is nil, so that INFO
// leaves connect_urls out.
func normalURLs(urls []string) []string {
	urls = slices.Compact(slices.Sorted(slices.Values(urls)))
	if len(urls) == 0 {
		return nil
	}
	return urls
}

// changeInfoLocked applies change to the INFO template and returns the
// new INFO line with the clients to send it to: those past their first
// PONG. Clients before it get it from catchUpInfo. s.mu held; nil, nil
// before Start or after Close.
func (s *Server) changeInfoLocked(change func(*natsproto.Info)) ([]*client, []byte) {
	s.infoGen++
	if !s.started || s.closed {
		return nil, nil
	}
	change(&s.info)
	line := s.asyncInfoLocked()
	if line == nil {
		return nil, nil
	}
	var clients []*client
	for _, c := range s.clients {
		if c.infoUpdates.Load() {
			clients = append(clients, c)
		}
	}
	return clients, line
}

// asyncInfoLocked encodes the INFO sent to connected clients when what it
// announces changes: the server's, without the per-client fields. s.mu
// held; nil if it cannot be encoded.
func (s *Server) asyncInfoLocked() []byte {
	line, err := natsproto.AppendInfo(nil, &s.info)
	if err != nil {
		s.log.Error("encode INFO", "err", err)
		return nil
	}
	return line
}

// catchUpInfo sends c the current INFO if what it announces (servers,
// lame duck) changed between c's first INFO and its first PONG
// (changeInfoLocked only tells clients past that point). It runs after c.infoUpdates is set, so
// a change racing with it is told at least once.
func (c *client) catchUpInfo() {
	s := c.srv
	s.mu.Lock()
	var line []byte
	if s.infoGen != c.infoGen {
		line = s.asyncInfoLocked()
	}
	s.mu.Unlock()
	if line != nil {
		c.queueProto(string(line))
	}
}
