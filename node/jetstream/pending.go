package jetstream

import (
	"sync/atomic"

	"github.com/cairnkv/cairn/node/natsproto"
	"github.com/cairnkv/cairn/node/natsserver"
)

// pendingPublishes counts the publishes waiting for replication on this
// node. Each holds a worker goroutine until its outcome is known, and an
// asynchronous publisher may send far more than the cluster can commit
// at once; past max, a publish is refused at once (clients retry) instead
// of growing the node's memory without bound.
type pendingPublishes struct {
	max     int64 // 0: no bound
	n       atomic.Int64
	refused atomic.Uint64
}

// errTooManyPending answers a publish refused by the bound, as
// nats-server answers a publish its stream's full ingest queue refuses
// (with a "429 Too Many Requests" status header as well; see refuse).
var errTooManyPending = &APIError{Code: 429, ErrCode: 10167, Description: "too many requests"}

// tooManyRequests is the status header nats-server puts on that answer.
var tooManyRequests = natsproto.StatusHeader(429, "Too Many Requests")

func (p *pendingPublishes) admit() bool {
	if p.n.Add(1) > p.max && p.max > 0 {
		p.n.Add(-1)
		p.refused.Add(1)
		return false
	}
	return true
}

func (p *pendingPublishes) release() { p.n.Add(-1) }

// PendingPublishes reports the publishes waiting for replication now and
// how many were refused for want of room since the server started.
func (s *Server) PendingPublishes() (pending int64, refused uint64) {
	return s.pending.n.Load(), s.pending.refused.Load()
}

// refuse answers a publish the bound refused.
func (s *Server) refuse(m *natsserver.Msg, stream string) {
	s.apiErrors.Add(1)
	s.replyWithHeader(m, tooManyRequests, PubAck{Stream: stream, Error: errTooManyPending})
}
