package natsserver

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairnkv/cairn/node/natsproto"
)

// Read buffer sizing: start small so idle connections are cheap, grow
// while reads fill the buffer, shrink back when traffic drops.
const (
	minReadBuf = 1 << 10
	maxReadBuf = 64 << 10
)

// finalFlushMax caps how long a closing connection may spend flushing
// its last bytes (for example a final -ERR); cutoffFlush is the budget
// when the queued data is being discarded because the peer is not
// reading (slow consumer), so the -ERR is only best effort.
const (
	finalFlushMax = 2 * time.Second
	cutoffFlush   = 100 * time.Millisecond
)

// errClosed tells the read loop that an op already closed the
// connection (with its own -ERR) and reading must stop.
var errClosed = errors.New("natsserver: connection closed")

// client is one accepted connection. Its read loop (run) owns the
// parser and CONNECT options; its writer goroutine owns the socket's
// write side; other goroutines only queue bytes through out.
type client struct {
	srv *Server
	id  uint64
	nc  net.Conn
	log *slog.Logger

	// Owned by the read loop.
	opts   natsproto.Connect
	parser *natsproto.Parser
	tls    bool // nc is a TLS connection

	headers atomic.Bool // CONNECT negotiated headers
	// authed: the client presented valid credentials, or none are
	// required; authTimer closes it if it does not in time.
	authed    atomic.Bool
	authTimer *time.Timer
	nonce     string       // the nkey challenge its INFO carried ("" without nkeys)
	pingsOut  atomic.Int32 // server PINGs without a PONG yet

	// infoGen is the server's infoGen when this client's INFO was made
	// (set before it runs); infoUpdates that it gets INFO updates: its
	// CONNECT asked for them (protocol 1) and it has had its first PONG.
	infoGen     uint64
	infoUpdates atomic.Bool

	subsMu sync.Mutex
	subs   map[string]*subscription // by sid; nil once closed

	out        outbound
	closeOnce  sync.Once
	writerDone chan struct{}
}

func newClient(s *Server, id uint64, nc net.Conn) *client {
	return &client{
		srv:        s,
		id:         id,
		nc:         nc,
		log:        s.log.With("cid", id, "remote", nc.RemoteAddr().String()),
		opts:       natsproto.DefaultConnect(),
		parser:     natsproto.NewParser(s.cfg.MaxPayload, s.cfg.MaxControlLine),
		subs:       make(map[string]*subscription),
		out:        newOutbound(),
		writerDone: make(chan struct{}),
	}
}

// run owns the connection: it queues INFO, starts the writer, reads
// until the connection ends, then waits for the writer and unregisters.
func (c *client) run(info []byte) {
	defer c.srv.wg.Done()
	if len(info) > 0 && c.reserve(len(info)) {
		c.out.buf = append(c.out.buf, info...)
		c.commit()
	}
	go c.writeLoop()
	c.startAuthTimer()
	c.readLoop()
	if c.authTimer != nil {
		c.authTimer.Stop()
	}
	<-c.writerDone
	_ = c.nc.Close()
	c.srv.removeClient(c)
}

func (c *client) readLoop() {
	buf := make([]byte, minReadBuf)
	small := 0
	handle := c.handleOp
	for {
		n, err := c.nc.Read(buf)
		if n > 0 {
			if perr := c.parser.Parse(buf[:n], handle); perr != nil {
				c.protocolError(perr)
				return
			}
		}
		if err != nil {
			c.closeConn("read: "+err.Error(), "", false)
			return
		}
		// Adapt the buffer to the traffic.
		switch {
		case n == len(buf) && len(buf) < maxReadBuf:
			buf = make([]byte, len(buf)*2)
			small = 0
		case n < len(buf)/4 && len(buf) > minReadBuf:
			if small++; small > 8 {
				buf = make([]byte, len(buf)/2)
				small = 0
			}
		default:
			small = 0
		}
	}
}

// protocolError closes the connection after a fatal parse or op error,
// telling the client what nats-server would.
func (c *client) protocolError(err error) {
	if errors.Is(err, errClosed) {
		return
	}
	text, _ := natsproto.ClientText(err)
	c.log.Debug("protocol error", "err", err)
	c.closeConn("protocol error", text, false)
}

// closeConn starts closing once: no more data is accepted, the queued
// bytes (or, with discard, none) plus an optional -ERR are flushed with
// a short deadline, subscriptions are dropped, then the writer closes
// the socket.
func (c *client) closeConn(reason, errText string, discard bool) {
	c.closeOnce.Do(func() {
		c.out.mu.Lock()
		if discard {
			c.out.buf = c.out.buf[:0]
		}
		if errText != "" {
			c.out.buf = natsproto.AppendErr(c.out.buf, errText)
		}
		c.out.closing = true
		// Cut short a write that is blocked on a peer not reading.
		budget := min(c.srv.cfg.WriteDeadline, finalFlushMax)
		if discard {
			budget = min(budget, cutoffFlush)
		}
		c.out.budget = budget
		_ = c.nc.SetWriteDeadline(time.Now().Add(budget))
		c.out.mu.Unlock()
		c.out.wake()
		c.dropSubs()
		c.log.Debug("connection closing", "reason", reason)
	})
}

func (c *client) isClosing() bool {
	c.out.mu.Lock()
	defer c.out.mu.Unlock()
	return c.out.closing
}

// kill ends the connection at server shutdown. Replies already queued
// (answers to requests that finished while the server was stopping) are
// flushed first, within the closing budget, so a client is not left
// waiting for its timeout on an answer that existed; then the writer
// closes the socket.
func (c *client) kill() {
	c.closeConn("server shutdown", "", false)
}

func (c *client) dropSubs() {
	c.subsMu.Lock()
	subs := make([]*subscription, 0, len(c.subs))
	for _, sub := range c.subs {
		subs = append(subs, sub)
	}
	c.subs = nil
	c.subsMu.Unlock()
	c.srv.sl.removeAll(subs)
}

// unsubscribe removes sub from this client and the sublist.
func (c *client) unsubscribe(sub *subscription) {
	c.subsMu.Lock()
	if c.subs[sub.sid] == sub {
		delete(c.subs, sub.sid)
	}
	c.subsMu.Unlock()
	c.srv.sl.remove(sub)
}
