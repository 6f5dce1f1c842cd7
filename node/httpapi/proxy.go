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
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/cairnkv/cairn/node"
)

// Requests for a bucket this node holds no replica of are forwarded, as
// they are, to the HTTP API of a node that holds one: a client may talk
// to any node. Watch streams are relayed as they come (no buffering).

const (
	// headerForwarded marks a forwarded request with the IDs of the
	// nodes that forwarded it, comma-separated, first hop first.
	headerForwarded = "X-Cairn-Forwarded-By"
	// headerServedBy, on a forwarded response, names the node that
	// served it.
	headerServedBy = "X-Cairn-Served-By"
)

// proxyDialTimeout bounds connecting to the node a request is forwarded
// to.
const proxyDialTimeout = 3 * time.Second

// proxyTransport is the client side of forwarding, shared by the servers
// of a process as http.DefaultTransport is.
var proxyTransport = &http.Transport{
	Proxy:                 nil, // nodes talk to each other directly
	DialContext:           (&net.Dialer{Timeout: proxyDialTimeout, KeepAlive: 30 * time.Second}).DialContext,
	MaxIdleConnsPerHost:   32,
	IdleConnTimeout:       90 * time.Second,
	ExpectContinueTimeout: time.Second,
}

// peerTLSDialer dials another node's HTTPS port as base dials TCP, then
// completes a TLS handshake that checks the node's certificate against
// the dialed host (node.ClientTLS.PeerConfig, whose CA file is read anew
// when it changes, which a shared TLSClientConfig could not be).
func peerTLSDialer(base *http.Transport, t *node.ClientTLS) func(context.Context, string, string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		raw, err := base.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		c := tls.Client(raw, t.PeerConfig(addr))
		// Bounded as the dial is: a peer that takes the connection and
		// never answers the handshake must not hold the request.
		hctx, cancel := context.WithTimeout(ctx, proxyDialTimeout)
		defer cancel()
		if err := c.HandshakeContext(hctx); err != nil {
			raw.Close()
			return nil, err
		}
		return c, nil
	}
}

// maxBucketHops is how many times a bucket request may be forwarded, as
// on the NATS port (node/jetstream, forward.go): a second hop is what a
// registered replica whose group is not running here takes, to another
// replica; a request that has had two is served where it is. Without a
// bound, two nodes that disagree about where a bucket lives (during a
// move) would bounce it.
const maxBucketHops = 2

// local wraps the handler of a bucket route (the bucket named by the
// path parameter param): served here when this node holds a replica of
// the bucket or does not know it (then the handler answers "not found"),
// or when the request was forwarded maxBucketHops times already;
// forwarded to a live replica that has not forwarded it otherwise.
func (s *Server) local(param string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		chain := forwardChain(r)
		if len(chain) >= maxBucketHops {
			h(w, r)
			return
		}
		name := r.PathValue(param)
		replicas, local, known := s.n.Locate(name)
		if !known || local {
			h(w, r)
			return
		}
		replicas = slices.DeleteFunc(replicas, func(x node.Replica) bool {
			return slices.Contains(chain, nodeID(x.ID))
		})
		if len(replicas) == 0 {
			h(w, r) // every replica passed it on already
			return
		}
		s.forward(w, r, "bucket "+name, replicas)
	}
}

// forwardChain returns the IDs of the nodes that forwarded r, first hop
// first; none for a client's own request.
func forwardChain(r *http.Request) []string {
	v := r.Header.Get(headerForwarded)
	if v == "" {
		return nil
	}
	return strings.Split(v, ",")
}

// forward proxies r to the first live node of candidates with an HTTP
// address; what names what they hold, for errors. A request without a
// body goes to the next candidate when one cannot be connected to.
func (s *Server) forward(w http.ResponseWriter, r *http.Request, what string, candidates []node.Replica) {
	var targets []node.Replica
	for _, c := range candidates {
		if c.Alive && c.ID != s.n.NodeID() && dialable(c.HTTPAddr) {
			targets = append(targets, c)
		}
	}
	if len(targets) == 0 {
		writeError(w, &apiError{Code: http.StatusServiceUnavailable, ErrCode: jsClusterNotAvailable,
			Description: fmt.Sprintf("no live node holding %s is reachable", what)})
		return
	}
	retry := r.ContentLength == 0 && (r.Body == nil || r.Body == http.NoBody)

	// A forwarded request ends when the client goes away or this server
	// closes; a watch stream then ends as a local one does.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go func() {
		select {
		case <-s.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	r = r.WithContext(ctx)
	rc := http.NewResponseController(w)
	if retry {
		// No body to read: the server's read deadline must not end a
		// long response (a watch); writes get deadlines of their own.
		_ = rc.SetReadDeadline(time.Time{})
	}
	dw := &deadlineWriter{ResponseWriter: w, rc: rc, timeout: s.opts.WriteTimeout}
	for i, t := range targets {
		last := !retry || i == len(targets)-1
		if s.proxyTo(dw, r, t, last) {
			return
		}
		s.lg.Debug("forwarding: node unreachable, trying the next", "node", t.Name, "addr", t.HTTPAddr, "what", what)
	}
}

// proxyTo forwards r to t. It returns false, having written nothing,
// when t could not be connected to and last is false.
func (s *Server) proxyTo(w http.ResponseWriter, r *http.Request, t node.Replica, last bool) bool {
	done := true
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(&url.URL{Scheme: s.scheme, Host: t.HTTPAddr})
			pr.SetXForwarded()
			chain := append(forwardChain(pr.In), nodeID(s.n.NodeID()))
			pr.Out.Header.Set(headerForwarded, strings.Join(chain, ","))
		},
		Transport:     s.proxy,
		FlushInterval: -1, // watch events go out as they come
		ErrorLog:      slog.NewLogLogger(s.lg.Handler(), slog.LevelDebug),
		ModifyResponse: func(res *http.Response) error {
			res.Header.Set(headerServedBy, nodeID(t.ID))
			res.Body = &endOnClose{ReadCloser: res.Body, closing: s.closing}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, req *http.Request, err error) {
			var op *net.OpError
			if !last && errors.As(err, &op) && op.Op == "dial" {
				done = false
				return
			}
			if r.Context().Err() != nil {
				return // the client is gone, or the server closes
			}
			writeError(w, &apiError{Code: http.StatusBadGateway, ErrCode: jsClusterNotAvailable,
				Description: fmt.Sprintf("forwarding to node %s (%s): %v", t.Name, t.HTTPAddr, err)})
		},
	}
	rp.ServeHTTP(w, r)
	return done
}

// jsClusterNotAvailable is JSClusterNotAvailErr, as the node reports
// unavailable buckets.
const jsClusterNotAvailable = 10008

// dialable reports whether addr is a host:port with a port (a listener
// not started yet is registered with port 0).
func dialable(addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	return err == nil && port != "" && port != "0"
}

// deadlineWriter gives every write of a forwarded response its own
// deadline, as local watch streams do, instead of one for the whole
// response.
type deadlineWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
}

func (w *deadlineWriter) WriteHeader(code int) {
	w.extend()
	w.ResponseWriter.WriteHeader(code)
}

func (w *deadlineWriter) Write(p []byte) (int, error) {
	w.extend()
	return w.ResponseWriter.Write(p)
}

func (w *deadlineWriter) extend() { _ = w.rc.SetWriteDeadline(time.Now().Add(w.timeout)) }

func (w *deadlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// endOnClose ends a forwarded response body cleanly when the server
// closes: the read the closing interrupts reports the end of the body
// rather than an error, so the client sees the stream end as a local
// stream ends, not an aborted connection.
type endOnClose struct {
	io.ReadCloser
	closing <-chan struct{}
}

func (b *endOnClose) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		select {
		case <-b.closing:
			return n, io.EOF
		default:
		}
	}
	return n, err
}
