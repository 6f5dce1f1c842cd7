package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairnkv/cairn/node"
	"github.com/cairnkv/cairn/node/natsserver"
)

// Router is what this package needs from the NATS server: internal
// subscriptions, publishing, interest checks, and delivery of a message to
// a subscription subject while showing another subject on the MSG line
// (push consumers deliver $KV.<bucket>.<key> to an inbox).
type Router interface {
	Subscribe(subject, queue string, h natsserver.Handler) (unsubscribe func(), err error)
	SubscribeInline(subject string, h natsserver.Handler) (unsubscribe func(), err error)
	Publish(m *natsserver.Msg) error
	PublishTo(target string, m *natsserver.Msg) error
	PublishBatchTo(target string, msgs []*natsserver.Msg) error
	HasInterest(subject string) bool
}

// Server answers the JetStream API for one node.
type Server struct {
	node        *node.Node
	r           Router
	lg          *slog.Logger
	clusterName string

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	unsubs []func()

	workers   workerPool
	deadlines sharedDeadlines
	pending   pendingPublishes

	mu        sync.Mutex
	consumers map[string]*consumer // stream + "." + name

	fwd *forwarder
	// fwd2 carries second hops: requests another node forwarded here
	// that this node cannot serve either (see hopOf).
	fwd2 *forwarder

	apiTotal atomic.Uint64
	// draining: Drain was called; requests are refused (drain.go).
	draining  atomic.Bool
	apiErrors atomic.Uint64
}

// New creates the API server; Start subscribes it.
func New(n *node.Node, r Router, lg *slog.Logger) *Server {
	if lg == nil {
		lg = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{node: n, r: r, lg: lg.With("component", "jetstream"), clusterName: "cairn",
		ctx: ctx, cancel: cancel, consumers: map[string]*consumer{}}
	s.fwd = newForwarder(s, fwdInboxPrefix)
	s.fwd2 = newForwarder(s, fwd2InboxPrefix)
	s.workers = workerPool{handoff: make(chan func()), done: ctx.Done(), wg: &s.wg}
	s.deadlines.parent = ctx
	s.deadlines.timeout = min(requestTimeout, n.Config().RequestTimeout)
	s.pending.max = int64(n.Config().MaxPendingPublishes)
	return s
}

// Start subscribes to the API and KV subjects.
func (s *Server) Start() error {
	// Publishes are handled on the publisher's goroutine, as nats-server
	// ingests them: a client's publishes are proposed in its order, a
	// node's clients propose in parallel, and a flood holds back its
	// publisher instead of overflowing a queue. The API and flow control
	// keep a goroutine each (a request may wait for a registry refresh).
	subs := []struct {
		subject string
		h       natsserver.Handler
		inline  bool
	}{
		{"$JS.API.>", s.handleAPI, false},
		{"$KV.>", s.handlePublish, true},
		{"$JS.FC.>", s.handleFlowControl, false},
	}
	for _, sub := range subs {
		var unsub func()
		var err error
		if sub.inline {
			unsub, err = s.r.SubscribeInline(sub.subject, sub.h)
		} else {
			unsub, err = s.r.Subscribe(sub.subject, "", sub.h)
		}
		if err != nil {
			s.Close()
			return err
		}
		s.unsubs = append(s.unsubs, unsub)
	}
	s.goLong(s.reapLoop)
	return nil
}

// reapLoop ends relays of remote consumers whose clients went away.
func (s *Server) reapLoop() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			s.fwd.reap()
			s.fwd2.reap()
		}
	}
}

// Close unsubscribes and stops every consumer.
func (s *Server) Close() {
	for _, u := range s.unsubs {
		u()
	}
	s.unsubs = nil
	s.cancel()
	s.fwd.close()
	s.fwd2.close()
	s.mu.Lock()
	for _, c := range s.consumers {
		c.stop()
	}
	s.mu.Unlock()
	s.workers.close()
	s.wg.Wait()
}

// goFn runs f, a request's handler, on a goroutine owned by the server
// (a pooled worker); Drain waits for it.
func (s *Server) goFn(f func()) {
	s.workers.run(f)
}

// goLong runs f, which lasts as long as something the server serves (a
// consumer, a loop), on a goroutine of its own that Close waits for.
// It reports false, running nothing, once the server is closing.
func (s *Server) goLong(f func()) bool {
	return s.workers.spawn(f)
}

func (s *Server) reply(m *natsserver.Msg, v any) { s.replyWithHeader(m, nil, v) }

// replyWithHeader answers m with v as JSON, under the header block hdr.
func (s *Server) replyWithHeader(m *natsserver.Msg, hdr []byte, v any) {
	if m.Reply == "" {
		return
	}
	data, err := json.Marshal(v)
	if err != nil {
		s.lg.Error("encoding API response", "err", err)
		return
	}
	s.r.Publish(&natsserver.Msg{Subject: m.Reply, Header: hdr, Data: data})
}

// requestContext bounds an API request. It is shared with the requests
// that started about the same time, and ends on its own (no cancel).
func (s *Server) requestContext() context.Context {
	return s.deadlines.get()
}

// apiErr maps a node error onto JetStream's error object.
func apiErr(err error) *APIError {
	var e *node.Error
	if errors.As(err, &e) {
		return &APIError{Code: e.Code, ErrCode: e.ErrCode, Description: e.Description}
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return &APIError{Code: 503, ErrCode: 10008, Description: "JetStream cluster not available: request timed out"}
	}
	return &APIError{Code: 500, ErrCode: 10008, Description: err.Error()}
}

func (s *Server) leaderName(id uint64) string {
	if id == 0 {
		return ""
	}
	return s.node.NodeName(id)
}
