package jetstream

import (
	"context"

	"github.com/cairnkv/cairn/node/natsserver"
)

// errShuttingDown answers requests that reach a node while it drains: a
// retryable 503, given at once, so the client tries again (on another
// node once this one closes its connection) instead of waiting out its
// timeout for an answer that would never come.
var errShuttingDown = &APIError{Code: 503, ErrCode: 10008, Description: "JetStream system temporarily unavailable: this node is shutting down"}

// Drain refuses every request from now on (refuseDraining) and waits,
// until ctx ends, for the requests being handled to be answered; it
// reports whether they all were. Shutdown calls it after handing the
// node's leaderships over and before closing client connections, which
// flush the answers: a request in flight at shutdown is answered, not
// lost with its connection.
func (s *Server) Drain(ctx context.Context) bool {
	s.draining.Store(true)
	return s.workers.waitIdle(ctx)
}

// refuseDraining answers m with errShuttingDown (a publish with a PubAck
// error, a direct get with a 503 status, as nats-server answers a direct
// get nobody can serve) while the server drains; false means go on.
func (s *Server) refuseDraining(m *natsserver.Msg, publish, directGet bool) bool {
	if !s.draining.Load() {
		return false
	}
	switch {
	case m.Reply == "":
	case publish:
		s.pubAck(m, PubAck{Error: errShuttingDown})
	case directGet:
		s.noResponders(m)
	default:
		s.replyErr(m, "io.nats.jetstream.api.v1.error_response", errShuttingDown)
	}
	return true
}
