package natsserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairnkv/cairn/node/natsproto"
)

// Server is the NATS front door. Create it with New, start it with
// Start, stop it with Close. The in-process API (Subscribe, Publish,
// HasInterest) works from New on.
type Server struct {
	cfg Config
	log *slog.Logger
	sl  *sublist

	mu          sync.Mutex
	ln          net.Listener
	info        natsproto.Info // template; per-client fields filled on accept
	connectURLs []string       // servers clients may use, this one too (SetConnectURLs)
	infoGen     uint64         // bumped by every change of info told to clients
	clients     map[uint64]*client
	internals   map[*internalSub]struct{}
	started     bool
	closed      bool
	done        chan struct{} // closed by Close

	closedFlag atomic.Bool
	nextID     atomic.Uint64
	stats      counters
	wg         sync.WaitGroup // accept loop, clients, internal subscribers
}

// New validates cfg (filling defaults for zero fields) and returns a
// Server that is not yet listening.
func New(cfg Config) (*Server, error) {
	cfg.fill()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("natsserver: config: %w", err)
	}
	return &Server{
		cfg:       cfg,
		log:       cfg.Logger.With("component", "natsserver"),
		sl:        newSublist(),
		clients:   make(map[uint64]*client),
		internals: make(map[*internalSub]struct{}),
		done:      make(chan struct{}),
	}, nil
}

// Config returns the effective configuration (defaults filled in).
func (s *Server) Config() Config { return s.cfg }

// Start listens on Config.ListenAddr and accepts clients in the
// background. ctx bounds only the listen call; stop the server with
// Close.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrServerClosed
	}
	if s.started {
		return errors.New("natsserver: already started")
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("natsserver: listen %s: %w", s.cfg.ListenAddr, err)
	}
	host, port := s.cfg.ListenAddr, 0
	if a, ok := ln.Addr().(*net.TCPAddr); ok {
		host, port = a.IP.String(), a.Port
	}
	s.info = natsproto.Info{
		ServerID:    s.cfg.ServerID,
		ServerName:  s.cfg.ServerName,
		Version:     s.cfg.Version,
		Proto:       natsproto.ClientProtoInfo,
		GoVersion:   runtime.Version(),
		Host:        host,
		Port:        port,
		Headers:     true,
		MaxPayload:  s.cfg.MaxPayload,
		JetStream:   s.cfg.JetStream,
		APILevel:    s.cfg.APILevel,
		ConnectURLs: s.connectURLs,
		// nats.go sends the credentials it has either way; the flag
		// tells clients (and users reading INFO) that they must.
		AuthRequired: s.authRequired(),
		TLSRequired:  s.cfg.TLS != nil,
		TLSVerify:    s.cfg.TLS != nil && s.cfg.TLS.ClientAuth == tls.RequireAndVerifyClientCert,
	}
	s.ln = ln
	s.started = true
	s.wg.Add(1)
	go s.acceptLoop(ln)
	s.log.Info("listening for NATS clients", "addr", ln.Addr().String(), "server_id", s.cfg.ServerID)
	return nil
}

// Addr returns the listening address, or nil before Start.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Close stops accepting, closes every client connection, stops every
// in-process subscription and waits for all of the server's goroutines.
// It is safe to call more than once.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.wg.Wait()
		return nil
	}
	s.closed = true
	s.closedFlag.Store(true)
	close(s.done)
	ln := s.ln
	clients := make([]*client, 0, len(s.clients))
	for _, c := range s.clients {
		clients = append(clients, c)
	}
	internals := make([]*internalSub, 0, len(s.internals))
	for is := range s.internals {
		internals = append(internals, is)
	}
	s.mu.Unlock()

	var err error
	if ln != nil {
		if cerr := ln.Close(); cerr != nil && !errors.Is(cerr, net.ErrClosed) {
			err = fmt.Errorf("natsserver: close listener: %w", cerr)
		}
	}
	for _, c := range clients {
		c.kill()
	}
	for _, is := range internals {
		is.unsubscribe()
	}
	s.wg.Wait()
	return err
}

func (s *Server) isClosed() bool { return s.closedFlag.Load() }

func (s *Server) acceptLoop(ln net.Listener) {
	defer s.wg.Done()
	backoff := time.Duration(0)
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.isClosed() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Likely out of file descriptors: back off, keep serving.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed", "err", err, "retry_in", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-s.done:
				t.Stop()
				return
			}
			continue
		}
		backoff = 0
		s.accept(nc)
	}
}

// accept registers a new connection and starts its goroutines, or
// turns it away when the server is closed or full.
func (s *Server) accept(nc net.Conn) {
	id := s.nextID.Add(1)
	s.mu.Lock()
	info, gen := s.info, s.infoGen
	s.mu.Unlock()
	info.ClientID = id
	var nonce string
	if s.cfg.AuthorizeNKey != nil {
		nonce = newNonce()
		info.Nonce = nonce
	}
	if a, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		info.ClientIP = a.IP.String()
	}
	line, err := natsproto.AppendInfo(nil, &info)
	if err != nil {
		s.log.Error("encode INFO", "err", err)
		_ = nc.Close()
		return
	}

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = nc.Close()
		return
	}
	if len(s.clients) >= s.cfg.MaxConnections {
		s.mu.Unlock()
		s.log.Warn("maximum connections exceeded", "max", s.cfg.MaxConnections, "remote", nc.RemoteAddr().String())
		s.wg.Add(1)
		go s.turnAway(nc, natsproto.AppendErr(line, errTextMaxConns))
		return
	}
	if s.cfg.TLS != nil {
		// The handshake runs on its own goroutine: a client that is
		// slow to answer must not hold up the accept loop.
		s.wg.Add(1)
		s.mu.Unlock()
		go s.acceptTLS(nc, id, gen, line, nonce)
		return
	}
	s.startClient(nc, id, gen, line, nonce)
}

// startClient registers an accepted (and, with TLS, handshaken)
// connection and runs it; s.mu is held and is released. info is the
// INFO line still to send (nil when sent already); nonce the nkey
// challenge it carries ("" without nkeys).
func (s *Server) startClient(nc net.Conn, id, gen uint64, info []byte, nonce string) {
	c := newClient(s, id, nc)
	c.nonce = nonce
	_, c.tls = nc.(*tls.Conn)
	c.infoGen = gen
	s.clients[id] = c
	s.wg.Add(1)
	s.mu.Unlock()
	s.stats.totalConns.Add(1)
	go c.run(info)
}

// turnAwayLinger bounds how long a turned-away connection is read from
// after its error was sent.
const turnAwayLinger = time.Second

// turnAway sends a connection the server will not serve its INFO and
// error, like nats-server, then closes it gently: it stops writing and
// reads (and drops) what the client sends until the client closes or
// turnAwayLinger passes. Closing at once would reset the connection under
// the client's CONNECT, and the client would report a broken pipe rather
// than the error.
func (s *Server) turnAway(nc net.Conn, msg []byte) {
	defer s.wg.Done()
	defer nc.Close()
	deadline := time.Now().Add(turnAwayLinger)
	_ = nc.SetDeadline(deadline)
	if _, err := nc.Write(msg); err != nil {
		return
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
	buf := make([]byte, 512)
	for !s.isClosed() && time.Now().Before(deadline) {
		if _, err := nc.Read(buf); err != nil {
			return
		}
	}
}

func (s *Server) removeClient(c *client) {
	s.mu.Lock()
	delete(s.clients, c.id)
	s.mu.Unlock()
}
