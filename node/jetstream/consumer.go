package jetstream

import (
	"context"
	"crypto/rand"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cairnkv/cairn/node"
	"github.com/cairnkv/cairn/node/natsproto"
	"github.com/cairnkv/cairn/node/natsserver"
	"github.com/cairnkv/cairn/storage/bucket"
)

// Defaults nats-server applies to the ordered consumers behind KV watches.
const (
	defaultInactiveThreshold = 5 * time.Second
	// fcWindow is the flow-control window: a consumer with flow control
	// asks the client to confirm after half of it and stops delivering
	// when a whole window is unconfirmed, so a slow watcher is paced
	// instead of overflowing its connection and being cut off.
	fcWindow = 4 << 20
)

// consumer is a push consumer: it reads a bucket through a node cursor and
// delivers to its deliver subject while that subject has interest.
type consumer struct {
	s       *Server
	stream  string
	name    string
	b       *node.Bucket
	cfg     ConsumerConfig
	created time.Time
	cur     *node.Cursor
	prefix  string // $KV.<bucket>.

	ctx    context.Context
	cancel context.CancelFunc

	mu          sync.Mutex
	cseq        uint64 // last consumer sequence delivered
	sseq        uint64 // last stream sequence delivered
	pending     uint64 // messages known to follow the last delivery
	fcSubject   string // outstanding flow-control request, "" if none
	unconfirmed int    // bytes delivered since the last confirmed request
	fcWake      chan struct{}
}

func (c *consumer) key() string { return c.stream + "." + c.name }

func (c *consumer) stop() { c.cancel() }

func (s *Server) consumerCount(stream string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if stream == "" {
		return len(s.consumers)
	}
	n := 0
	for _, c := range s.consumers {
		if c.stream == stream {
			n++
		}
	}
	return n
}

func (s *Server) dropConsumers(stream string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, c := range s.consumers {
		if c.stream == stream {
			c.stop()
			delete(s.consumers, k)
		}
	}
}

func (s *Server) removeConsumer(c *consumer) {
	s.mu.Lock()
	if s.consumers[c.key()] == c {
		delete(s.consumers, c.key())
	}
	s.mu.Unlock()
	c.stop()
}

// run delivers until the consumer is deleted, goes inactive, or the
// bucket disappears.
func (c *consumer) run() {
	defer c.cur.Close()
	defer c.s.removeConsumer(c)
	hb := time.Duration(c.cfg.Heartbeat)
	inactive := time.Duration(c.cfg.InactiveThreshold)
	lastActive := time.Now()
	lastSent := time.Now()
	poll := time.NewTicker(100 * time.Millisecond)
	defer poll.Stop()
	for {
		if !c.s.r.HasInterest(c.cfg.DeliverSubject) {
			if inactive > 0 && time.Since(lastActive) > inactive {
				return
			}
			select {
			case <-c.ctx.Done():
				return
			case <-poll.C:
			}
			continue
		}
		lastActive = time.Now()
		if c.stalled() {
			select {
			case <-c.ctx.Done():
				return
			case <-c.fcWake:
			case <-poll.C:
				if hb > 0 && time.Since(lastSent) >= hb {
					c.heartbeat()
					lastSent = time.Now()
				}
			}
			continue
		}
		wait := c.cur.Wait()
		m, pending, ok, err := c.cur.TryNext()
		if err != nil {
			return
		}
		if ok {
			if !c.deliverFrom(m, pending) {
				return
			}
			lastSent = time.Now()
			continue
		}
		if hb > 0 && time.Since(lastSent) >= hb {
			c.heartbeat()
			lastSent = time.Now()
		}
		select {
		case <-c.ctx.Done():
			return
		case <-c.cur.Closed():
			return
		case <-wait:
		case <-poll.C: // re-check interest and heartbeat time
		}
	}
}

// Bounds of one batch of deliveries: the messages the cursor has ready
// go to the client in one write, up to these.
const (
	batchMsgs  = 64
	batchBytes = 64 << 10
)

// deliverFrom delivers m and the messages the cursor has ready right
// after it (pending > 0 says there are), as one batch; false if the
// cursor failed (the bucket is gone).
func (c *consumer) deliverFrom(m *bucket.Msg, pending uint64) bool {
	batch := make([]*natsserver.Msg, 0, min(pending+1, batchMsgs))
	size := 0
	var err error
	for ok := true; ok; {
		msg := c.prepare(m, pending)
		batch = append(batch, msg)
		size += len(msg.Subject) + len(msg.Reply) + len(msg.Header) + len(msg.Data)
		if pending == 0 || len(batch) >= batchMsgs || size >= batchBytes {
			break
		}
		m, pending, ok, err = c.cur.TryNext()
	}
	c.s.r.PublishBatchTo(c.cfg.DeliverSubject, batch)
	if c.cfg.FlowControl {
		c.accountFlow(size)
	}
	return err == nil
}

// prepare advances the consumer's sequences past m and returns the
// message that delivers it.
func (c *consumer) prepare(m *bucket.Msg, pending uint64) *natsserver.Msg {
	c.mu.Lock()
	c.cseq++
	c.sseq = m.Seq
	c.pending = pending
	cseq := c.cseq
	c.mu.Unlock()
	hdr, data := m.Header, m.Data
	if c.cfg.HeadersOnly {
		if len(hdr) == 0 {
			hdr = []byte("NATS/1.0\r\n\r\n")
		}
		hdr, _ = natsproto.AppendHeader(hdr, "Nats-Msg-Size", strconv.Itoa(len(data)))
		data = nil
	}
	ack := "$JS.ACK." + c.stream + "." + c.name + ".1." + strconv.FormatUint(m.Seq, 10) + "." +
		strconv.FormatUint(cseq, 10) + "." + strconv.FormatInt(m.Time, 10) + "." + strconv.FormatUint(pending, 10)
	return &natsserver.Msg{Subject: c.prefix + m.Key, Reply: ack, Header: hdr, Data: data}
}

// accountFlow counts delivered bytes and asks for confirmation once half
// the window is unconfirmed.
func (c *consumer) accountFlow(n int) {
	c.mu.Lock()
	c.unconfirmed += n
	send := c.fcSubject == "" && c.unconfirmed >= fcWindow/2
	if send {
		c.fcSubject = "$JS.FC." + c.stream + "." + c.name + "." + randToken(4)
	}
	subj := c.fcSubject
	c.mu.Unlock()
	if send {
		c.s.r.PublishTo(c.cfg.DeliverSubject, &natsserver.Msg{Subject: c.cfg.DeliverSubject, Reply: subj,
			Header: natsproto.StatusHeader(100, "FlowControl Request")})
	}
}

func (c *consumer) stalled() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cfg.FlowControl && c.fcSubject != "" && c.unconfirmed >= fcWindow
}

// flowResponse handles the client's answer to a flow-control request.
func (c *consumer) flowResponse(subject string) {
	c.mu.Lock()
	if subject == c.fcSubject {
		c.fcSubject, c.unconfirmed = "", 0
	}
	c.mu.Unlock()
	select {
	case c.fcWake <- struct{}{}:
	default:
	}
}

func (c *consumer) heartbeat() {
	c.mu.Lock()
	kv := []string{"Nats-Last-Consumer", strconv.FormatUint(c.cseq, 10), "Nats-Last-Stream", strconv.FormatUint(c.sseq, 10)}
	if c.fcSubject != "" {
		kv = append(kv, "Nats-Consumer-Stalled", c.fcSubject)
	}
	c.mu.Unlock()
	c.s.r.PublishTo(c.cfg.DeliverSubject, &natsserver.Msg{Subject: c.cfg.DeliverSubject, Header: natsproto.StatusHeader(100, "Idle Heartbeat", kv...)})
}

func (c *consumer) info() ConsumerInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	return ConsumerInfo{
		Stream:     c.stream,
		Name:       c.name,
		Created:    c.created,
		Config:     c.cfg,
		Delivered:  SequenceInfo{Consumer: c.cseq, Stream: c.sseq},
		AckFloor:   SequenceInfo{Consumer: c.cseq, Stream: c.sseq},
		NumPending: c.pending,
		Cluster:    &ClusterInfo{Name: c.s.clusterName, Leader: c.s.node.Name()},
		PushBound:  c.s.r.HasInterest(c.cfg.DeliverSubject),
		TS:         time.Now().UTC(),
	}
}

const tokenAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func randToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = tokenAlphabet[int(b[i])%len(tokenAlphabet)]
	}
	return string(b)
}

// handleFlowControl routes $JS.FC.<stream>.<consumer>.<token> replies.
func (s *Server) handleFlowControl(m *natsserver.Msg) {
	toks := strings.Split(m.Subject, ".")
	if len(toks) != 5 {
		return
	}
	s.mu.Lock()
	c := s.consumers[toks[2]+"."+toks[3]]
	s.mu.Unlock()
	if c != nil {
		c.flowResponse(m.Subject)
		return
	}
	// A consumer relayed on a second hop has its flow control in fwd2.
	if !s.fwd.flowControl(m) {
		s.fwd2.flowControl(m)
	}
}
