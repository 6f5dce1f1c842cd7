package httpapi

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairnkv/cairn/node"
	"github.com/prometheus/client_golang/prometheus"
)

// Options configure a Server. The zero value is usable.
type Options struct {
	// Logger receives the server's logs (default: the node's logger).
	Logger *slog.Logger
	// MaxBodyBytes is the largest request body accepted (a value, a
	// bucket configuration). Default: the node's MaxPayload.
	MaxBodyBytes int64
	// Registry is where the server registers its metrics and from which
	// /metrics is served. Raft, storage and membership register their own
	// collectors into the same registry. Nil: a fresh registry.
	Registry *prometheus.Registry
	// BucketSeriesLimit: per-bucket metric series are exported while the
	// node holds at most this many buckets (default 1000; negative: never).
	BucketSeriesLimit int
	// ReadyCheck, if set, is consulted by /readyz in addition to the
	// node's own checks (the cluster layer: joined, meta leader known).
	// A joined error (errors.Join) counts as several reasons.
	ReadyCheck func() error
	// ClusterInfo, if set, is what GET /v1/cluster returns (rendered as
	// JSON) instead of this node's local view.
	ClusterInfo func() any
	// KeepAlive is the interval of the comment lines an idle watch stream
	// sends (default 15s).
	KeepAlive time.Duration
	// ReadyTimeout bounds the checks of one /readyz (default 2s).
	ReadyTimeout time.Duration
	// ShutdownTimeout bounds Close's wait for requests in flight
	// (default 10s); then connections are closed.
	ShutdownTimeout time.Duration
	// ReadTimeout bounds reading one request, body included (default 1m).
	ReadTimeout time.Duration
	// WriteTimeout bounds writing one response (default: the node's
	// request timeout plus 30s). Watch streams set a deadline per event
	// instead.
	WriteTimeout time.Duration
}

// Server is a node's HTTP API.
type Server struct {
	n    *node.Node
	opts Options
	lg   *slog.Logger
	reg  *prometheus.Registry
	mux  *http.ServeMux
	m    *httpMetrics

	handler http.Handler

	mu        sync.Mutex
	srv       *http.Server
	ln        net.Listener
	serveDone chan struct{}
	closed    bool

	closing   chan struct{} // closed when Close starts: watch streams end
	stopping  atomic.Bool   // set by ShuttingDown: /readyz says so
	closeOnce sync.Once
	closeErr  error

	watchers atomic.Int64 // open watch streams
	authOK   authCache    // credentials that passed (auth.go)
	// scheme is http, or https with TLS; proxy forwards to other nodes,
	// checking their certificates with TLS.
	scheme     string
	proxy      *http.Transport
	authWarned atomic.Int64 // when a refusal was last logged (unix ns)
}

// New returns a server for n. It does not listen until Start.
func New(n *node.Node, opts Options) *Server {
	cfg := n.Config()
	if opts.Logger == nil {
		opts.Logger = cfg.Logger
		if opts.Logger == nil {
			opts.Logger = slog.Default()
		}
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = int64(cfg.MaxPayload)
		if opts.MaxBodyBytes <= 0 {
			opts.MaxBodyBytes = int64(node.DefaultConfig().MaxPayload)
		}
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	if opts.BucketSeriesLimit == 0 {
		opts.BucketSeriesLimit = 1000
	}
	if opts.KeepAlive <= 0 {
		opts.KeepAlive = 15 * time.Second
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = 2 * time.Second
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = 10 * time.Second
	}
	if opts.ReadTimeout <= 0 {
		opts.ReadTimeout = time.Minute
	}
	if opts.WriteTimeout <= 0 {
		rt := cfg.RequestTimeout
		if rt <= 0 {
			rt = node.DefaultConfig().RequestTimeout
		}
		opts.WriteTimeout = rt + 30*time.Second
	}
	s := &Server{
		n:       n,
		opts:    opts,
		lg:      opts.Logger.With("component", "httpapi"),
		reg:     opts.Registry,
		mux:     http.NewServeMux(),
		closing: make(chan struct{}),
	}
	s.scheme, s.proxy = "http", proxyTransport
	if t := n.ClientTLS(); t != nil {
		s.scheme, s.proxy = "https", proxyTransport.Clone()
		s.proxy.DialTLSContext = peerTLSDialer(proxyTransport, t)
	}
	s.m = newHTTPMetrics(s)
	s.routes()
	s.handler = http.HandlerFunc(s.serveHTTP)
	return s
}

// Registry returns the registry /metrics serves; other packages register
// their collectors here.
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// Handler returns the server's HTTP handler (for embedding or tests).
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) routes() {
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.Handle("GET /metrics", s.metricsHandler())

	// Bucket routes are forwarded to a node holding the bucket when this
	// one holds no replica of it (see proxy.go).
	s.mux.HandleFunc("GET /v1/kv/{bucket}", s.local("bucket", s.listKeys))
	// Without this, PUT or DELETE on /v1/kv/{bucket} would be redirected
	// to /v1/kv/{bucket}/ (the empty key) by the mux.
	s.mux.Handle("/v1/kv/{bucket}", methodNotAllowed("GET, HEAD"))
	s.mux.HandleFunc("GET /v1/kv/{bucket}/{key...}", s.local("bucket", s.getKey))
	s.mux.HandleFunc("PUT /v1/kv/{bucket}/{key...}", s.local("bucket", s.putKey))
	s.mux.HandleFunc("DELETE /v1/kv/{bucket}/{key...}", s.local("bucket", s.deleteKey))
	s.mux.HandleFunc("GET /v1/watch/{bucket}", s.local("bucket", s.watch))

	s.mux.HandleFunc("GET /v1/buckets", s.listBuckets)
	s.mux.HandleFunc("GET /v1/buckets/{name}", s.getBucket)
	s.mux.HandleFunc("PUT /v1/buckets/{name}", s.putBucket)
	s.mux.HandleFunc("DELETE /v1/buckets/{name}", s.deleteBucket)
	s.mux.HandleFunc("GET /v1/buckets/{name}/backup", s.local("name", s.backupBucket))
	s.mux.HandleFunc("POST /v1/buckets/{name}/move-replica", s.moveReplica)
	s.mux.HandleFunc("POST /v1/buckets/{name}/transfer-leader", s.transferLeader)
	s.mux.HandleFunc("POST /v1/restore", s.restoreBucket)

	s.mux.HandleFunc("GET /v1/cluster", s.cluster)
	s.mux.HandleFunc("POST /v1/cluster/step-down", s.stepDown)
	s.mux.HandleFunc("POST /v1/cluster/nodes/{node}/remove", s.removeNode)
}

// Start listens on the node's HTTPAddr (port 0 picks a free port) and
// serves in the background. ctx bounds only the listen.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("httpapi: server closed")
	}
	if s.srv != nil {
		return errors.New("httpapi: already started")
	}
	addr := s.n.Config().HTTPAddr
	if addr == "" {
		return errors.New("httpapi: no HTTP address configured")
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("httpapi: listen %s: %w", addr, err)
	}
	if t := s.n.ClientTLS(); t != nil {
		ln = tls.NewListener(ln, t.Server)
	}
	s.ln = ln
	s.srv = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       s.opts.ReadTimeout,
		WriteTimeout:      s.opts.WriteTimeout,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.lg.Handler(), slog.LevelDebug),
	}
	s.serveDone = make(chan struct{})
	srv, done := s.srv, s.serveDone
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.lg.Error("HTTP server stopped", "err", err)
		}
	}()
	if err := s.n.SetAdvertised("", ln.Addr().String()); err != nil {
		s.lg.Warn("advertising the HTTP address", "err", err)
	}
	s.lg.Info("HTTP API listening", "addr", ln.Addr().String())
	return nil
}

// Addr returns the listening address (nil before Start).
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// URL returns the server's base URL, http://host:port (empty before
// Start).
func (s *Server) URL() string {
	a := s.Addr()
	if a == nil {
		return ""
	}
	return s.scheme + "://" + a.String()
}

// Close stops the server: it stops accepting, ends watch streams, waits
// up to ShutdownTimeout for requests in flight, then closes what is left.
// The node keeps running.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		srv, done := s.srv, s.serveDone
		s.mu.Unlock()
		close(s.closing)
		if srv == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.opts.ShutdownTimeout)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			s.lg.Warn("HTTP shutdown timed out; closing connections", "err", err)
			s.closeErr = srv.Close()
		}
		<-done
	})
	return s.closeErr
}

// ShuttingDown makes /readyz answer "not ready: shutting down" while the
// API still serves, so a load balancer moves away during the node's
// graceful shutdown (before Close).
func (s *Server) ShuttingDown() { s.stopping.Store(true) }

func (s *Server) isClosing() bool {
	select {
	case <-s.closing:
		return true
	default:
		return false
	}
}

// serveHTTP is the outermost handler: key path canonicalisation, routing,
// JSON 404/405, metrics and the access log.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	s.m.inFlight.Inc()
	defer s.m.inFlight.Dec()
	sw := &statusWriter{ResponseWriter: w}

	r = protectKeyPath(r)
	h, pattern := s.mux.Handler(r)
	switch {
	case !s.authorized(r):
		s.unauthorized(sw, r)
	case pattern == "":
		s.unmatched(sw, r, h)
	default:
		s.mux.ServeHTTP(sw, r)
	}

	route := routeLabel(r.Pattern)
	code := sw.status()
	elapsed := time.Since(start)
	s.m.observe(r.Method, route, code, elapsed)
	lvl := slog.LevelDebug
	if code >= 500 {
		lvl = slog.LevelWarn
	}
	s.lg.Log(r.Context(), lvl, "http request", "method", r.Method, "path", r.URL.Path, "route", route,
		"status", code, "duration", elapsed, "remote", r.RemoteAddr)
}

// protectKeyPath makes a key route's path canonical for the mux without
// changing the key: every '/' of the key part is escaped as %2F, so that
// keys such as "/a", "a//b" or "a/./b" are neither cleaned nor redirected.
func protectKeyPath(r *http.Request) *http.Request {
	const prefix = "/v1/kv/"
	esc := r.URL.EscapedPath()
	if !strings.HasPrefix(esc, prefix) {
		return r
	}
	rest := esc[len(prefix):]
	i := strings.IndexByte(rest, '/')
	if i < 0 {
		return r
	}
	bucket, key := rest[:i], rest[i+1:]
	if !strings.Contains(key, "/") || bucket == "." || bucket == ".." || bucket == "" {
		return r
	}
	r2 := r.WithContext(r.Context())
	u := *r.URL
	u.RawPath = prefix + bucket + "/" + strings.ReplaceAll(key, "/", "%2F")
	r2.URL = &u
	return r2
}

// unmatched renders the mux's "not found" and "method not allowed" as
// JSON errors (keeping the Allow header); anything else it answers (a
// redirect) passes through.
func (s *Server) unmatched(w http.ResponseWriter, r *http.Request, h http.Handler) {
	rec := &recorder{header: http.Header{}}
	h.ServeHTTP(rec, r)
	switch rec.code {
	case http.StatusNotFound:
		writeError(w, &apiError{Code: http.StatusNotFound, Description: fmt.Sprintf("no route for %s %s", r.Method, r.URL.Path)})
	case http.StatusMethodNotAllowed:
		methodNotAllowed(rec.header.Get("Allow")).ServeHTTP(w, r)
	default:
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		if rec.code == 0 {
			rec.code = http.StatusOK
		}
		w.WriteHeader(rec.code)
		_, _ = w.Write(rec.body)
	}
}

// methodNotAllowed answers 405 with the given Allow header.
func methodNotAllowed(allow string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeError(w, &apiError{Code: http.StatusMethodNotAllowed, Description: fmt.Sprintf("method %s not allowed on %s; allowed: %s", r.Method, r.URL.Path, allow)})
	})
}

func routeLabel(pattern string) string {
	if pattern == "" {
		return "unmatched"
	}
	if i := strings.IndexByte(pattern, ' '); i >= 0 {
		return pattern[i+1:]
	}
	return pattern
}

// recorder captures a small fallback response.
type recorder struct {
	header http.Header
	code   int
	body   []byte
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}
func (r *recorder) Write(p []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	if len(r.body) < 4096 {
		r.body = append(r.body, p[:min(len(p), 4096-len(r.body))]...)
	}
	return len(p), nil
}

// statusWriter records the status code; it unwraps for
// http.ResponseController (flushes, deadlines).
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) ReadFrom(src io.Reader) (int64, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return io.Copy(w.ResponseWriter, src)
}

func (w *statusWriter) Flush() {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}
