package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Transport moves raft messages, snapshots and calls between this node and
// its peers over TCP. It implements replication.Transport.
type Transport struct {
	cfg Config
	h   Handler
	log *slog.Logger

	// ctx is cancelled by Close; every goroutine and dial watches it.
	ctx    context.Context
	cancel context.CancelFunc
	// wg counts every goroutine the transport starts (see spawn).
	wg sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	ln      net.Listener
	peers   map[uint64]*peer
	conns   map[net.Conn]bool // open connections → accepted (not dialed)
	inbound int               // accepted connections open

	methodsMu sync.RWMutex
	methods   map[string]CallHandler

	callSeq  atomic.Uint64
	callSem  chan struct{}
	snapSend chan struct{}
	snapRecv chan struct{}

	rep   reporter
	stats counters
	hooks hooks
}

// hooks let tests break things on purpose.
type hooks struct {
	// snapChunk sees each snapshot chunk frame just before it is written.
	snapChunk func(i int, frame []byte)
}

// Limits on what remote parties can make this node hold.
const (
	maxPeers        = 4096 // distinct peer IDs with state here
	maxInboundConns = 1024 // accepted connections open at once
)

// New returns a transport; Start makes it listen. Sending works before
// Start (dialing out needs no listener).
func New(cfg Config, h Handler) (*Transport, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if h == nil {
		return nil, errors.New("transport: nil Handler")
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &Transport{
		cfg:      cfg,
		h:        h,
		log:      cfg.Logger.With("node", cfg.NodeID),
		ctx:      ctx,
		cancel:   cancel,
		peers:    map[uint64]*peer{},
		conns:    map[net.Conn]bool{},
		methods:  map[string]CallHandler{},
		callSem:  make(chan struct{}, cfg.MaxConcurrentCalls),
		snapSend: make(chan struct{}, cfg.MaxSnapshots),
		snapRecv: make(chan struct{}, cfg.MaxSnapshots),
	}
	t.rep.init(t)
	return t, nil
}

// Start listens on ListenAddr and serves peers until Close.
func (t *Transport) Start() error {
	ln, err := net.Listen("tcp", t.cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("transport: listening on %s: %w", t.cfg.ListenAddr, err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed || t.ln != nil {
		ln.Close()
		if t.closed {
			return ErrClosed
		}
		return errors.New("transport: already started")
	}
	t.ln = ln
	t.spawnLocked(func() { t.acceptLoop(ln) })
	// As gossip logs "encrypted": whether strangers are kept out should
	// be visible in the first lines of a node's log.
	t.log.Info("peer transport started", "addr", ln.Addr().String(), "authenticated", t.cfg.Key != nil || t.cfg.TLS != nil, "tls", t.cfg.TLS != nil)
	return nil
}

// Addr is the listening address, or nil before Start.
func (t *Transport) Addr() net.Addr {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ln == nil {
		return nil
	}
	return t.ln.Addr()
}

// Close stops listening, closes every connection and waits for every
// goroutine. Calls in flight fail with ErrClosed; no Handler method is
// called once Close has returned.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		t.wg.Wait()
		return nil
	}
	t.closed = true
	ln := t.ln
	conns := make([]net.Conn, 0, len(t.conns))
	for c := range t.conns {
		conns = append(conns, c)
	}
	t.mu.Unlock()

	t.cancel()
	if ln != nil {
		ln.Close()
	}
	for _, c := range conns {
		c.Close()
	}
	t.wg.Wait()
	return nil
}

// spawn runs fn on a goroutine that Close waits for; false once closed.
func (t *Transport) spawn(fn func()) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.spawnLocked(fn)
}

func (t *Transport) spawnLocked(fn func()) bool {
	if t.closed {
		return false
	}
	// Add under mu, which Close takes before Wait: no Add can follow Wait.
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		fn()
	}()
	return true
}

// sleep waits d or until Close; false if closed.
func (t *Transport) sleep(d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-t.ctx.Done():
		return false
	}
}

// track registers a connection so Close can break it; false (and the
// connection closed) if closing or, for accepted ones, over the limit.
func (t *Transport) track(c net.Conn, accepted bool) bool {
	t.mu.Lock()
	ok := !t.closed && (!accepted || t.inbound < maxInboundConns)
	if ok {
		t.conns[c] = accepted
		if accepted {
			t.inbound++
		}
	}
	t.mu.Unlock()
	if !ok {
		c.Close()
	}
	return ok
}

// untrack closes a tracked connection.
func (t *Transport) untrack(c net.Conn) {
	t.mu.Lock()
	if accepted, ok := t.conns[c]; ok {
		delete(t.conns, c)
		if accepted {
			t.inbound--
		}
	}
	t.mu.Unlock()
	c.Close()
}

// closing reports whether Close has begun; errors then are expected.
func (t *Transport) closing() bool { return t.ctx.Err() != nil }
