package natsserver

import (
	"errors"
	"fmt"
	"sync"

	"github.com/cairnkv/cairn/node/natsproto"
)

// Msg is a message as in-process subscribers see it and publish it.
type Msg struct {
	Subject string
	Reply   string
	// Header is the raw header block (see natsproto.ParseHeader), or
	// nil for a message without headers.
	Header []byte
	Data   []byte
}

// Handler receives messages for an in-process subscription. Calls for
// one subscription are sequential and in arrival order, on a goroutine
// owned by that subscription. A handler may keep m and call Publish,
// but should not block for long: while it runs, further messages queue
// up to Config.InternalQueueMsgs/InternalQueueBytes and are then
// dropped.
type Handler func(m *Msg)

// Errors returned by the in-process API.
var (
	ErrServerClosed   = errors.New("natsserver: server closed")
	ErrInvalidSubject = errors.New("natsserver: invalid subject")
	ErrNilHandler     = errors.New("natsserver: nil handler")
)

// internalSub is an in-process subscription: a bounded queue drained
// in order by its own goroutine, or (inline) calls on the publisher's.
type internalSub struct {
	srv    *Server
	sub    *subscription
	h      Handler
	inline bool

	mu       sync.Mutex
	q        []*Msg
	head     int
	bytes    int
	dropping bool

	kick     chan struct{}
	stop     chan struct{}
	stopOnce sync.Once
}

// Subscribe registers h for subject (wildcards allowed) and, when queue
// is not empty, as a member of that queue group alongside any clients.
// Messages published by clients and by Publish are matched through the
// same index as client subscriptions. unsubscribe stops delivery; it
// does not wait for a handler call in progress and may be called from
// the handler itself.
func (s *Server) Subscribe(subject, queue string, h Handler) (unsubscribe func(), err error) {
	return s.subscribe(subject, queue, h, false)
}

// SubscribeInline registers h for subject like Subscribe, but calls it
// on the publisher's goroutine (a client's read loop, or Publish's
// caller) instead of queueing: a client's messages reach h in its
// publish order, a slow h holds back that publisher (as nats-server's
// inline JetStream ingest does) and nothing is dropped, and calls from
// different publishers run concurrently. h gets its own copy of the
// message and must not block for long.
func (s *Server) SubscribeInline(subject string, h Handler) (unsubscribe func(), err error) {
	return s.subscribe(subject, "", h, true)
}

func (s *Server) subscribe(subject, queue string, h Handler, inline bool) (unsubscribe func(), err error) {
	if h == nil {
		return nil, ErrNilHandler
	}
	if !natsproto.ValidSubscribeSubject(subject) || (queue != "" && !natsproto.ValidQueueName(queue)) {
		return nil, fmt.Errorf("%w: %q %q", ErrInvalidSubject, subject, queue)
	}
	is := &internalSub{srv: s, h: h, inline: inline, kick: make(chan struct{}, 1), stop: make(chan struct{})}
	is.sub = &subscription{subject: subject, queue: queue, internal: is}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrServerClosed
	}
	s.internals[is] = struct{}{}
	if !inline {
		s.wg.Add(1)
	}
	s.mu.Unlock()
	s.sl.insert(is.sub)
	if !inline {
		go is.run()
	}
	return is.unsubscribe, nil
}

// Publish routes m to every matching client and in-process subscriber,
// exactly as if a client had published it. m is not retained.
func (s *Server) Publish(m *Msg) error {
	return s.PublishTo(m.Subject, m)
}

// PublishTo routes m to the subscribers of target while showing
// m.Subject to them, which is how a push consumer delivers a stream
// message (subject `$KV.b.k`) to its deliver subject (an inbox). With
// target == m.Subject it is Publish. m is not retained.
func (s *Server) PublishTo(target string, m *Msg) error {
	return s.publishTo(target, m, nil)
}

// PublishBatchTo is PublishTo for several messages in order, with one
// write per subscribing client for all of them instead of one per
// message. A message that fails validation stops the batch; the ones
// before it are delivered.
func (s *Server) PublishBatchTo(target string, msgs []*Msg) error {
	var held heldClients
	defer held.flush()
	for _, m := range msgs {
		if err := s.publishTo(target, m, &held); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) publishTo(target string, m *Msg, held *heldClients) error {
	if !natsproto.ValidPublishSubject(target) {
		return fmt.Errorf("%w: %q", ErrInvalidSubject, target)
	}
	if !natsproto.ValidPublishSubject(m.Subject) {
		return fmt.Errorf("%w: %q", ErrInvalidSubject, m.Subject)
	}
	if m.Reply != "" && !natsproto.ValidPublishSubject(m.Reply) {
		return fmt.Errorf("%w: reply %q", ErrInvalidSubject, m.Reply)
	}
	if s.isClosed() {
		return ErrServerClosed
	}
	var reply []byte
	if m.Reply != "" {
		reply = []byte(m.Reply)
	}
	subject := []byte(m.Subject)
	match := subject
	if target != m.Subject {
		match = []byte(target)
	}
	s.stats.inMsgs.Add(1)
	s.stats.inBytes.Add(uint64(len(m.Header) + len(m.Data)))
	s.route(nil, match, subject, reply, m.Header, m.Data, held)
	return nil
}

// HasInterest reports whether any client or in-process subscription
// matches subject.
func (s *Server) HasInterest(subject string) bool {
	return !s.sl.match([]byte(subject)).empty()
}

func (is *internalSub) unsubscribe() {
	is.stopOnce.Do(func() {
		is.srv.sl.remove(is.sub)
		close(is.stop)
		is.srv.mu.Lock()
		delete(is.srv.internals, is)
		is.srv.mu.Unlock()
	})
}

// enqueue copies the message and queues it, or drops it when the queue
// is full; it never blocks the publisher. An inline subscription's
// handler is called with the copy instead.
func (is *internalSub) enqueue(subject, reply, hdr, data []byte) {
	m := &Msg{Subject: string(subject), Reply: string(reply)}
	body := make([]byte, len(hdr)+len(data))
	copy(body, hdr)
	copy(body[len(hdr):], data)
	if hdr != nil {
		m.Header = body[:len(hdr):len(hdr)]
	}
	m.Data = body[len(hdr):]
	if is.inline {
		select {
		case <-is.stop:
			return
		default:
		}
		is.srv.stats.delivered(len(hdr) + len(data))
		is.call(m)
		return
	}
	size := msgSize(m)

	cfg := &is.srv.cfg
	is.mu.Lock()
	if len(is.q)-is.head >= cfg.InternalQueueMsgs || is.bytes+size > cfg.InternalQueueBytes {
		first := !is.dropping
		is.dropping = true
		is.mu.Unlock()
		is.srv.stats.internalDropped.Add(1)
		if first {
			is.srv.log.Warn("in-process subscriber is not keeping up; dropping messages",
				"subject", is.sub.subject, "queue", is.sub.queue)
		}
		return
	}
	if is.head > 0 && len(is.q) == cap(is.q) {
		n := copy(is.q, is.q[is.head:])
		clear(is.q[n:])
		is.q, is.head = is.q[:n], 0
	}
	is.q = append(is.q, m)
	is.bytes += size
	is.mu.Unlock()

	is.srv.stats.delivered(len(hdr) + len(data))
	select {
	case is.kick <- struct{}{}:
	default:
	}
}

func msgSize(m *Msg) int { return len(m.Subject) + len(m.Reply) + len(m.Header) + len(m.Data) }

func (is *internalSub) pop() *Msg {
	is.mu.Lock()
	defer is.mu.Unlock()
	if is.head == len(is.q) {
		is.q, is.head, is.dropping = is.q[:0], 0, false
		return nil
	}
	m := is.q[is.head]
	is.q[is.head] = nil
	is.head++
	is.bytes -= msgSize(m)
	return m
}

// run delivers queued messages in order until unsubscribe or shutdown.
func (is *internalSub) run() {
	defer is.srv.wg.Done()
	for {
		select {
		case <-is.stop:
			return
		case <-is.kick:
		}
		for m := is.pop(); m != nil; m = is.pop() {
			select {
			case <-is.stop:
				return
			default:
			}
			is.call(m)
		}
	}
}

func (is *internalSub) call(m *Msg) {
	defer func() {
		if r := recover(); r != nil {
			is.srv.log.Error("in-process handler panicked", "subject", m.Subject, "panic", r)
		}
	}()
	is.h(m)
}
