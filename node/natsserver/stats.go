package natsserver

import "sync/atomic"

// Stats are plain counters for metrics wiring elsewhere. Message and
// byte counts cover client and in-process traffic; bytes are header
// plus payload.
type Stats struct {
	Connections      int    // client connections open now
	TotalConnections uint64 // client connections accepted since New
	Subscriptions    int    // client and in-process subscriptions
	InMsgs, InBytes  uint64 // messages published into the server
	OutMsgs          uint64 // messages handed to subscribers
	OutBytes         uint64
	SlowConsumers    uint64 // connections cut off for not keeping up
	InternalDropped  uint64 // messages dropped for a full in-process queue
	AuthFailures     uint64 // connections refused for wrong or missing credentials
	TLSFailures      uint64 // connections closed for a failed TLS handshake
}

type counters struct {
	totalConns      atomic.Uint64
	inMsgs, inBytes atomic.Uint64
	outMsgs         atomic.Uint64
	outBytes        atomic.Uint64
	slowConsumers   atomic.Uint64
	internalDropped atomic.Uint64
	authFailures    atomic.Uint64
	tlsFailures     atomic.Uint64
	// inPlaceStalls counts in-place writes that handed the rest to the
	// connection's writer (tests look at it).
	inPlaceStalls atomic.Uint64
}

// delivered counts one message handed to a client or in-process
// subscriber, of n payload bytes (header included).
func (c *counters) delivered(n int) {
	c.outMsgs.Add(1)
	c.outBytes.Add(uint64(n))
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	conns := len(s.clients)
	s.mu.Unlock()
	return Stats{
		Connections:      conns,
		TotalConnections: s.stats.totalConns.Load(),
		Subscriptions:    s.sl.len(),
		InMsgs:           s.stats.inMsgs.Load(),
		InBytes:          s.stats.inBytes.Load(),
		OutMsgs:          s.stats.outMsgs.Load(),
		OutBytes:         s.stats.outBytes.Load(),
		SlowConsumers:    s.stats.slowConsumers.Load(),
		InternalDropped:  s.stats.internalDropped.Load(),
		AuthFailures:     s.stats.authFailures.Load(),
		TLSFailures:      s.stats.tlsFailures.Load(),
	}
}
