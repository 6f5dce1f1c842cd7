package natsserver

import (
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
	urls = slices.Compact(slices.Sorted(slices.Values(urls)))
	if len(urls) == 0 {
		urls = nil
	}
	s.mu.Lock()
	if slices.Equal(urls, s.connectURLs) {
		s.mu.Unlock()
		return
	}
	s.connectURLs = urls
	s.urlsGen++
	var line []byte
	var clients []*client
	if s.started && !s.closed {
		s.info.ConnectURLs = urls
		line = s.asyncInfoLocked()
		for _, c := range s.clients {
			if c.infoUpdates.Load() {
				clients = append(clients, c)
			}
		}
	}
	s.mu.Unlock()
	if line == nil {
		return
	}
	for _, c := range clients {
		c.queueProto(string(line))
	}
	s.log.Info("announcing servers to clients", "connect_urls", urls, "clients_told", len(clients))
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

// catchUpInfo sends c the current INFO if the servers it announces
// changed between c's first INFO and its first PONG (SetConnectURLs only
// tells clients past that point). It runs after c.infoUpdates is set, so
// a change racing with it is told at least once.
func (c *client) catchUpInfo() {
	s := c.srv
	s.mu.Lock()
	var line []byte
	if s.urlsGen != c.infoGen {
		line = s.asyncInfoLocked()
	}
	s.mu.Unlock()
	if line != nil {
		c.queueProto(string(line))
	}
}
