package jetstream

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairnkv/cairn/node"
	"github.com/cairnkv/cairn/node/natsproto"
	"github.com/cairnkv/cairn/node/natsserver"
	"github.com/nats-io/nats.go"
)

// A node answers requests for buckets it holds no replica of by
// forwarding them, over an ordinary NATS connection, to a node that
// does: the reply (or, for push consumers, the stream of deliveries) is
// relayed back to the client. Clients therefore see every bucket on
// every node, exactly as with a nats-server cluster.

// forwarder holds the connections to peers and the relays of remote
// push consumers.
type forwarder struct {
	s *Server
	// inboxPrefix begins the reply subject of everything this forwarder
	// sends, which tells the receiver which hop it is (hopOf).
	inboxPrefix string

	mu     sync.Mutex
	conns  map[uint64]*peerConn
	relays map[string]*relay // by deliver subject
	fc     map[string]*nats.Conn
	dials  map[uint64]*dialing // by node: in progress, or failed lately
	closed bool

	// dialTimeout bounds one connection attempt to a peer; dialBackoff
	// is how long after a failed attempt requests for that peer fail at
	// once.
	dialTimeout, dialBackoff time.Duration
	// giveUpAfter is how long a connection may try to reach its peer
	// again before reap closes it: a node removed from the cluster, or
	// dead for good, would otherwise be redialed for as long as this
	// process lives. A request for the peer after that dials anew.
	giveUpAfter time.Duration

	lastDeclinedLog atomic.Int64 // unix nanoseconds; see noteDeclined
}

// peerConn is a connection to one peer with one wildcard subscription
// for the replies to publishes forwarded on it: publishes go out in the
// order they came in, and their acks find their way back by token.
type peerConn struct {
	c      *nats.Conn
	addr   string // the peer's client address it was dialed at
	prefix string

	// up is canceled when the connection drops and replaced when it is
	// back: requests waiting on the peer stop waiting then. droppedAt is
	// when it dropped, zero while it is up.
	upMu      sync.Mutex
	up        context.Context
	upCancel  context.CancelFunc
	droppedAt time.Time

	mu      sync.Mutex
	seq     uint64
	pending map[string]pendingReply

	retryMu  sync.Mutex
	retryQ   []pendingReply // declined publishes to send on, in order
	retrying bool           // a goroutine is draining retryQ
}

// connected returns a context canceled when the connection drops.
func (pc *peerConn) connected() context.Context {
	pc.upMu.Lock()
	defer pc.upMu.Unlock()
	return pc.up
}

// dropped and back follow the connection's state, from its handlers.
func (pc *peerConn) dropped() {
	pc.upMu.Lock()
	pc.upCancel()
	pc.droppedAt = time.Now()
	pc.upMu.Unlock()
}

func (pc *peerConn) back() {
	pc.upMu.Lock()
	pc.upCancel()
	pc.up, pc.upCancel = context.WithCancel(context.Background())
	pc.droppedAt = time.Time{}
	pc.upMu.Unlock()
}

// downFor is how long the connection has been trying to reach its peer
// again; zero while it is up.
func (pc *peerConn) downFor() time.Duration {
	pc.upMu.Lock()
	defer pc.upMu.Unlock()
	if pc.droppedAt.IsZero() {
		return 0
	}
	return time.Since(pc.droppedAt)
}

// retryPublish sends p on to its next replicas. Retries from one peer
// go out one at a time, in the order that peer declined them (its
// answers come in publish order), so a client's pipelined publishes
// that all went to a replica that could not take them keep their order;
// and not on the goroutine that relays this peer's acks, since the next
// replica may need a dial.
func (f *forwarder) retryPublish(pc *peerConn, p pendingReply) {
	pc.retryMu.Lock()
	pc.retryQ = append(pc.retryQ, p)
	start := !pc.retrying
	pc.retrying = true
	pc.retryMu.Unlock()
	if !start {
		return
	}
	go func() {
		for {
			pc.retryMu.Lock()
			if len(pc.retryQ) == 0 {
				pc.retrying = false
				pc.retryQ = nil
				pc.retryMu.Unlock()
				return
			}
			next := pc.retryQ[0]
			pc.retryQ = pc.retryQ[1:]
			pc.retryMu.Unlock()
			f.publish(next.m, next.rest)
		}
	}()
}

// pendingReply is a forwarded publish waiting for its ack. m and rest
// (the replicas not tried yet) let a "no responders" answer, which says
// the publish was not stored, send it on to the next replica.
type pendingReply struct {
	reply string
	since time.Time
	m     *natsserver.Msg
	rest  []node.Replica
}

type relay struct {
	sub  *nats.Subscription
	conn *nats.Conn
}

func newForwarder(s *Server, inboxPrefix string) *forwarder {
	return &forwarder{s: s, inboxPrefix: inboxPrefix, conns: map[uint64]*peerConn{}, relays: map[string]*relay{}, fc: map[string]*nats.Conn{},
		dials: map[uint64]*dialing{}, dialTimeout: 2 * time.Second, dialBackoff: time.Second, giveUpAfter: time.Minute}
}

// A request is forwarded at most twice. What a node forwards carries a
// reply subject under its forwarder's inbox prefix: fwdInboxPrefix for
// a first hop, fwd2InboxPrefix for a second. A second hop is what a
// registered replica does when its own group is not available (it
// forwards to another replica); a third is never taken. Without the
// bound, two nodes whose registries disagreed about where a bucket lives
// (a replica moving while a member is replaced) passed a request back
// and forth, each hop a new pending request, until memory ran out: a
// 5-node chaos run did exactly that, one node reaching 20 GB. With no
// second hop at all, a client behind a node without a replica could not
// reach the bucket for as long as the replica it forwarded to had no
// group running (94 s in a later run).
const (
	fwdInboxPrefix  = "_CAIRN_FWD"
	fwd2InboxPrefix = "_CAIRN_FWD2"
)

// hopOf is how many times m has been forwarded already (0, 1 or 2).
func hopOf(m *natsserver.Msg) int {
	switch {
	case strings.HasPrefix(m.Reply, fwdInboxPrefix+"."):
		return 1
	case strings.HasPrefix(m.Reply, fwd2InboxPrefix+"."):
		return 2
	}
	return 0
}

// forwarderFor returns the forwarder for m's next hop, or nil when m has
// been forwarded as often as it may be.
func (s *Server) forwarderFor(m *natsserver.Msg) *forwarder {
	switch hopOf(m) {
	case 0:
		return s.fwd
	case 1:
		return s.fwd2
	}
	return nil
}

// refuseAnotherHop answers a message forwarded here as often as it may
// be, for a bucket this node does not hold either: a 503, as when no
// replica can be reached, which the client retries.
func (s *Server) refuseAnotherHop(m *natsserver.Msg, bucket string) {
	s.lg.Debug("not forwarding a request again", "subject", m.Subject, "bucket", bucket)
	s.noResponders(m)
}

// forwardTimeout bounds a forwarded request.
const forwardTimeout = 10 * time.Second

// target decides where a request for bucket goes: ok false means handle
// it here (this node holds a replica, or no other node does).
func (f *forwarder) target(bucket string) ([]node.Replica, bool) {
	replicas, local, known := f.s.node.Locate(bucket)
	if !known || local {
		return nil, false
	}
	var out []node.Replica
	for _, r := range replicas {
		if r.ID != f.s.node.NodeID() && r.ClientAddr != "" {
			out = append(out, r)
		}
	}
	return out, len(out) > 0
}

func (f *forwarder) conn(r node.Replica) (*nats.Conn, error) {
	pc, err := f.peer(r)
	if err != nil {
		return nil, err
	}
	return pc.c, nil
}

// peer returns the connection to r, connecting first if there is none.
// The connection is made outside f.mu, so a peer that takes long to
// answer (a dead address, a partition) holds up only the requests for
// that peer: they wait for the one dial in progress, and for dialBackoff
// after a failed dial they fail at once instead of each dialing again.
func (f *forwarder) peer(r node.Replica) (*peerConn, error) {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil, errors.New("shutting down")
	}
	if pc, ok := f.conns[r.ID]; ok {
		if pc.c.IsReconnecting() && pc.addr == r.ClientAddr {
			// The peer went away (gossip may not know yet) and the
			// connection is trying to reach it again: a request sent
			// now would wait out its whole timeout, so the caller
			// passes on to the next replica at once.
			f.mu.Unlock()
			return nil, fmt.Errorf("node %s at %s: connection lost, reconnecting", r.Name, r.ClientAddr)
		}
		if !pc.c.IsClosed() && pc.addr == r.ClientAddr {
			f.mu.Unlock()
			return pc, nil
		}
		// Closed, or the peer now listens elsewhere (restarted with
		// another address): the connection keeps to the old address,
		// so it is replaced. Deferred first, the close runs last, after
		// every return path below has released f.mu.
		delete(f.conns, r.ID)
		defer pc.c.Close()
	}
	if d, ok := f.dials[r.ID]; ok {
		select {
		case <-d.done:
			if time.Since(d.ended) < f.dialBackoff {
				f.mu.Unlock()
				return nil, d.err
			}
			// An old failure: dial again.
		default:
			f.mu.Unlock()
			<-d.done
			if d.err != nil {
				return nil, d.err
			}
			return f.peer(r) // connected: take it from f.conns
		}
	}
	d := &dialing{done: make(chan struct{})}
	f.dials[r.ID] = d
	f.mu.Unlock()

	pc, err := f.connect(r)

	f.mu.Lock()
	defer f.mu.Unlock()
	defer close(d.done)
	if err == nil && f.closed {
		pc.c.Close()
		err = errors.New("shutting down")
	}
	if err != nil {
		d.err, d.ended = err, time.Now()
		return nil, err
	}
	delete(f.dials, r.ID)
	f.conns[r.ID] = pc
	return pc, nil
}

// dialing is one connection attempt to a peer, in progress or (when it
// failed) remembered for dialBackoff.
type dialing struct {
	done  chan struct{}
	err   error
	ended time.Time
}

// PeerOptions are the connection options for another node's client
// port at addr: this node's own credential (node.ClientAuth.Own), which
// every node accepts, and with TLS the check of the other node's
// certificate against addr's host.
func PeerOptions(n *node.Node, addr string) []nats.Option {
	return ownOptions(n, func(t *node.ClientTLS) *tls.Config { return t.PeerConfig(addr) })
}

// SelfOptions are PeerOptions for this node's own client port (its
// in-process mounts): with TLS, only its own certificate is accepted.
func SelfOptions(n *node.Node) []nats.Option {
	return ownOptions(n, func(t *node.ClientTLS) *tls.Config { return t.Self })
}

func ownOptions(n *node.Node, tlsOf func(*node.ClientTLS) *tls.Config) []nats.Option {
	opts := CredentialOptions(n.ClientAuth().Own())
	if t := n.ClientTLS(); t != nil {
		opts = append(opts, nats.Secure(tlsOf(t).Clone()))
	}
	return opts
}

// CredentialOptions present a token, or else a user and password, to a
// NATS server; none when all are empty.
func CredentialOptions(user, pass, token string) []nats.Option {
	switch {
	case token != "":
		return []nats.Option{nats.Token(token)}
	case user != "":
		return []nats.Option{nats.UserInfo(user, pass)}
	}
	return nil
}

// connect dials r and subscribes to the replies of what is forwarded to
// it.
func (f *forwarder) connect(r node.Replica) (*peerConn, error) {
	pc := &peerConn{addr: r.ClientAddr, prefix: f.inboxPrefix + "." + nats.NewInbox()[len("_INBOX."):] + ".", pending: map[string]pendingReply{}}
	pc.up, pc.upCancel = context.WithCancel(context.Background())
	c, err := nats.Connect("nats://"+r.ClientAddr, append(PeerOptions(f.s.node, r.ClientAddr),
		nats.DisconnectErrHandler(func(*nats.Conn, error) { pc.dropped() }),
		nats.ReconnectHandler(func(*nats.Conn) { pc.back() }),
		nats.Name("cairn-forward-"+f.s.node.Name()),
		nats.Timeout(f.dialTimeout),
		nats.CustomInboxPrefix(f.inboxPrefix),
		// This connection is to r and no other node: every node
		// announces the others to its clients, and without this a
		// connection whose peer went down reconnected to one of them
		// and went on sending "to r" what r alone can serve (a 5-node
		// chaos run: one node's forwards for a bucket, sent to nodes
		// without a replica, got 503 until the end of the run).
		nats.IgnoreDiscoveredServers(),
		// Nothing is buffered while the peer is away: a publish then
		// fails at once and goes to the next replica, rather than
		// leaving for this peer whenever it is back.
		nats.ReconnectBufSize(-1),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(100*time.Millisecond),
		nats.NoCallbacksAfterClientClose())...)
	if err != nil {
		pc.upCancel()
		return nil, fmt.Errorf("connecting to node %s at %s: %w", r.Name, r.ClientAddr, err)
	}
	pc.c = c
	_, err = c.Subscribe(pc.prefix+"*", func(msg *nats.Msg) {
		pc.mu.Lock()
		p, ok := pc.pending[msg.Subject]
		delete(pc.pending, msg.Subject)
		pc.mu.Unlock()
		if !ok {
			return
		}
		if isNoResponders(msg) {
			if len(p.rest) > 0 {
				// Not stored there (no stream on that node, or a hop it
				// may not take): the next replica may store it.
				f.retryPublish(pc, p)
				return
			}
			f.noteDeclined(p.m.Subject, []string{r.Name + ": no responders (the last replica tried)"})
		}
		f.s.r.Publish(&natsserver.Msg{Subject: p.reply, Header: rawHeader(msg.Header), Data: msg.Data})
	})
	if err != nil {
		c.Close()
		pc.upCancel()
		return nil, fmt.Errorf("connecting to node %s at %s: %w", r.Name, r.ClientAddr, err)
	}
	return pc, nil
}

// publish forwards a publish to a replica at once, in arrival order; its
// ack is relayed when it comes. A replica that answers "no responders"
// did not store it, and it goes on to the next live replica; only the
// last one's answer reaches the client. Any other answer is relayed as
// it is: an error from a replica that proposed the write does not say
// the write was not stored, so it is not sent again.
func (f *forwarder) publish(m *natsserver.Msg, replicas []node.Replica) {
	for i, r := range replicas {
		if !r.Alive {
			continue
		}
		pc, err := f.peer(r)
		if err != nil {
			continue
		}
		out := &nats.Msg{Subject: m.Subject, Header: natsHeader(m.Header), Data: m.Data}
		pc.mu.Lock()
		pc.seq++
		// Even a publish that wants no answer gets a reply subject, which
		// marks it as forwarded; its ack finds no pending entry and is
		// dropped.
		out.Reply = pc.prefix + strconv.FormatUint(pc.seq, 36)
		if m.Reply != "" {
			pc.pending[out.Reply] = pendingReply{reply: m.Reply, since: time.Now(), m: m, rest: liveAfter(replicas, i)}
		}
		pc.mu.Unlock()
		if err := pc.c.PublishMsg(out); err != nil {
			pc.mu.Lock()
			delete(pc.pending, out.Reply)
			pc.mu.Unlock()
			continue
		}
		return
	}
	if m.Reply != "" {
		f.s.r.Publish(&natsserver.Msg{Subject: m.Reply, Header: natsproto.StatusHeader(503, "No Responders", "Nats-Subject", m.Subject)})
	}
}

// liveAfter returns the live replicas after replicas[i], or nil.
func liveAfter(replicas []node.Replica, i int) []node.Replica {
	for j := i + 1; j < len(replicas); j++ {
		if replicas[j].Alive {
			return replicas[j:]
		}
	}
	return nil
}

// isNoResponders reports whether msg is nats-server's "no responders"
// status: an empty 503, which says no subscriber took the message.
func isNoResponders(msg *nats.Msg) bool {
	return len(msg.Data) == 0 && msg.Header.Get("Status") == "503"
}

// forward sends m to a replica of bucket and relays what comes back to
// m.Reply. batch is set for requests answered by several messages that
// end with a 204 status (direct get batches). For a readOnly request, a
// replica that answers "unavailable" (stopped, moving, no leader: a 503)
// is passed over for the next, and only the last one's answer is relayed
// as it is: a client of nats-server does not see a request fail while
// another replica could answer it. Any request that a replica did not
// take at all ("no responders") goes on to the next one too.
func (f *forwarder) forward(m *natsserver.Msg, replicas []node.Replica, batch, readOnly bool) {
	var lastErr error
	lastAlive := -1
	for i, r := range replicas {
		if r.Alive {
			lastAlive = i
		}
	}
	// declined says what each replica tried did, for the log when none
	// answered: what a client sees then is only "no responders".
	var declined []string
	for i, r := range replicas {
		if !r.Alive {
			continue
		}
		passOn := readOnly && i < lastAlive
		pc, err := f.peer(r)
		if err != nil {
			lastErr = err
			declined = append(declined, r.Name+": "+err.Error())
			continue
		}
		c := pc.c
		out := &nats.Msg{Subject: m.Subject, Header: natsHeader(m.Header), Data: m.Data}
		if m.Reply == "" {
			// Nobody waits for the answer, but the reply subject marks the
			// request as forwarded.
			out.Reply = c.NewRespInbox()
			if err := c.PublishMsg(out); err != nil {
				lastErr = err
				continue
			}
			return
		}
		if err := f.request(pc, out, m.Reply, batch, passOn); err != nil {
			lastErr = err
			declined = append(declined, r.Name+": "+err.Error())
			switch {
			case errors.Is(err, nats.ErrNoResponders) && i == lastAlive:
				f.noteDeclined(m.Subject, declined)
				f.s.noResponders(m)
				return
			case (errors.Is(err, nats.ErrTimeout) || errors.Is(err, errPeerLost)) && !readOnly:
				// The replica may have carried the change out: sending
				// it to another could do it twice. The client times out,
				// as it would against nats-server.
				f.s.lg.Warn("a forwarded request got no answer", "subject", m.Subject, "node", r.Name, "err", err)
				return
			}
			continue // not handled there (no responders), or a read
		}
		return
	}
	if lastErr == nil {
		lastErr = errors.New("no live replica")
	}
	f.noteDeclined(m.Subject, declined)
	f.s.lg.Warn("forwarding a request failed", "subject", m.Subject, "err", lastErr)
	f.s.r.Publish(&natsserver.Msg{Subject: m.Reply, Header: natsproto.StatusHeader(503, "No Responders", "Nats-Subject", m.Subject)})
}

// noteDeclined logs, at most once a second per forwarder, that every
// replica a request was forwarded to declined it, and what each said:
// during a fault this happens for many requests at once, and one line
// says enough.
func (f *forwarder) noteDeclined(subject string, declined []string) {
	now := time.Now().UnixNano()
	last := f.lastDeclinedLog.Load()
	if now-last < int64(time.Second) || !f.lastDeclinedLog.CompareAndSwap(last, now) {
		return
	}
	f.s.lg.Warn("no replica took a forwarded request; answering no responders",
		"subject", subject, "hop", f.inboxPrefix, "replicas", declined)
}

// errReplicaUnavailable: the replica answered that it cannot serve the
// request now, and the caller asked to try another rather than relay it.
var errReplicaUnavailable = errors.New("replica unavailable")

// errPeerLost: the connection to the peer dropped while a request
// waited for its answer; whether the peer carried it out is not known.
var errPeerLost = errors.New("connection to the peer lost")

// request publishes out with a private inbox on pc and relays the reply
// (all replies up to the end-of-batch status, for a batch) to reply.
// With passOn, an "unavailable" answer is not relayed but returned as
// errReplicaUnavailable (or nats.ErrNoResponders). A wait ends after
// forwardTimeout (nats.ErrTimeout) or when the connection drops
// (errPeerLost).
func (f *forwarder) request(pc *peerConn, out *nats.Msg, reply string, batch, passOn bool) error {
	c := pc.c
	up := pc.connected()
	if up.Err() != nil {
		return errPeerLost
	}
	inbox := c.NewRespInbox()
	sub, err := c.SubscribeSync(inbox)
	if err != nil {
		return err
	}
	defer sub.Unsubscribe()
	out.Reply = inbox
	if err := c.PublishMsg(out); err != nil {
		return err
	}
	for first := true; ; first = false {
		msg, err := nextReply(up, sub)
		if err != nil {
			if first {
				return err
			}
			return nil // the batch was cut short; the client times out as it would
		}
		status := msg.Header.Get("Status")
		if first && isNoResponders(msg) {
			return nats.ErrNoResponders
		}
		if first && passOn && status == "" && unavailableAPIError(msg.Data) {
			return errReplicaUnavailable
		}
		f.s.r.Publish(&natsserver.Msg{Subject: reply, Header: rawHeader(msg.Header), Data: msg.Data})
		if !batch || status == "204" || (status != "" && status != "100" && status != "200") {
			return nil
		}
	}
}

// nextReply waits for the next message on sub for up to forwardTimeout,
// or until up ends (the connection dropped).
func nextReply(up context.Context, sub *nats.Subscription) (*nats.Msg, error) {
	ctx, cancel := context.WithTimeout(up, forwardTimeout)
	defer cancel()
	msg, err := sub.NextMsgWithContext(ctx)
	switch {
	case err == nil:
		return msg, nil
	case up.Err() != nil:
		return nil, errPeerLost
	case errors.Is(err, context.DeadlineExceeded):
		return nil, nats.ErrTimeout
	}
	return nil, err
}

// unavailableAPIError reports whether data is a JetStream API error
// reply with code 503 (cheaply: most replies are not errors).
func unavailableAPIError(data []byte) bool {
	if len(data) == 0 || data[0] != '{' || !bytes.Contains(data, []byte(`"error"`)) {
		return false
	}
	var r struct {
		Error *APIError `json:"error"`
	}
	return json.Unmarshal(data, &r) == nil && r.Error != nil && r.Error.Code == 503
}

// forwardConsumerCreate relays a push consumer created on a replica: its
// deliveries to the client's deliver subject come back through this node
// for as long as the client is subscribed here.
func (f *forwarder) forwardConsumerCreate(m *natsserver.Msg, replicas []node.Replica) {
	var req struct {
		Config struct {
			DeliverSubject string `json:"deliver_subject"`
		} `json:"config"`
	}
	if err := json.Unmarshal(m.Data, &req); err != nil || req.Config.DeliverSubject == "" {
		// Not a push consumer (or malformed): the replica answers.
		f.forward(m, replicas, false, false)
		return
	}
	deliver := req.Config.DeliverSubject
	for _, r := range replicas {
		if !r.Alive {
			continue
		}
		pc, err := f.peer(r)
		if err != nil {
			continue
		}
		if err := f.startRelay(pc.c, deliver); err != nil {
			continue
		}
		out := &nats.Msg{Subject: m.Subject, Header: natsHeader(m.Header), Data: m.Data}
		if err := f.request(pc, out, m.Reply, false, false); err != nil {
			f.stopRelay(deliver)
			continue
		}
		return
	}
	f.s.r.Publish(&natsserver.Msg{Subject: m.Reply, Header: natsproto.StatusHeader(503, "No Responders", "Nats-Subject", m.Subject)})
}

func (f *forwarder) startRelay(c *nats.Conn, deliver string) error {
	f.stopRelay(deliver)
	sub, err := c.Subscribe(deliver, func(msg *nats.Msg) {
		if strings.HasPrefix(msg.Reply, "$JS.FC.") {
			f.mu.Lock()
			f.fc[msg.Reply] = c
			f.mu.Unlock()
		}
		f.s.r.PublishTo(deliver, &natsserver.Msg{Subject: msg.Subject, Reply: msg.Reply, Header: rawHeader(msg.Header), Data: msg.Data})
	})
	if err != nil {
		return err
	}
	if err := c.Flush(); err != nil {
		_ = sub.Unsubscribe()
		return err
	}
	f.mu.Lock()
	f.relays[deliver] = &relay{sub: sub, conn: c}
	f.mu.Unlock()
	return nil
}

func (f *forwarder) stopRelay(deliver string) {
	f.mu.Lock()
	r := f.relays[deliver]
	delete(f.relays, deliver)
	f.mu.Unlock()
	if r != nil {
		_ = r.sub.Unsubscribe()
	}
}

// flowControl passes a client's flow-control answer to the node whose
// consumer asked; false when no relayed consumer did.
func (f *forwarder) flowControl(m *natsserver.Msg) bool {
	f.mu.Lock()
	c := f.fc[m.Subject]
	delete(f.fc, m.Subject)
	f.mu.Unlock()
	if c == nil {
		return false
	}
	_ = c.Publish(m.Subject, m.Data)
	return true
}

// reap closes connections that have tried to reach their peer for
// longer than giveUpAfter, ends relays whose client went away (no
// interest left here) or whose peer connection closed (the remote
// consumer then sees no interest and goes too), and forgets publishes
// whose ack is overdue.
func (f *forwarder) reap() {
	f.mu.Lock()
	var gone []*peerConn
	for id, pc := range f.conns {
		if pc.downFor() > f.giveUpAfter {
			delete(f.conns, id)
			gone = append(gone, pc)
		}
	}
	f.mu.Unlock()
	for _, pc := range gone {
		pc.c.Close() // its relays are closed with it, below
	}
	f.mu.Lock()
	var dead []string
	for d, r := range f.relays {
		if r.conn.IsClosed() || !f.s.r.HasInterest(d) {
			dead = append(dead, d)
		}
	}
	if len(f.fc) > 10000 {
		f.fc = map[string]*nats.Conn{} // answers that never came
	}
	peers := make([]*peerConn, 0, len(f.conns))
	for _, pc := range f.conns {
		peers = append(peers, pc)
	}
	f.mu.Unlock()
	for _, pc := range peers {
		pc.mu.Lock()
		for k, p := range pc.pending {
			if time.Since(p.since) > forwardTimeout {
				delete(pc.pending, k) // the client has timed out too
			}
		}
		pc.mu.Unlock()
	}
	for _, d := range dead {
		f.stopRelay(d)
	}
}

// broadcast publishes m (a republished KV message) on every other live
// node, so subscribers anywhere in the cluster receive it.
func (f *forwarder) broadcast(m *natsserver.Msg) {
	for _, p := range f.s.node.Peers() {
		if p.ClientAddr == "" {
			continue
		}
		c, err := f.conn(p)
		if err != nil {
			continue
		}
		_ = c.PublishMsg(&nats.Msg{Subject: m.Subject, Header: natsHeader(m.Header), Data: m.Data})
	}
}

func (f *forwarder) close() {
	f.mu.Lock()
	f.closed = true
	conns := f.conns
	f.conns = map[uint64]*peerConn{}
	f.relays = map[string]*relay{}
	f.mu.Unlock()
	for _, pc := range conns {
		pc.c.Close()
	}
}

// natsHeader converts a raw header block to nats.go's form, keys kept as
// written.
func natsHeader(raw []byte) nats.Header {
	if len(raw) == 0 {
		return nil
	}
	h, err := natsproto.ParseHeader(raw)
	if err != nil {
		return nil
	}
	out := nats.Header{}
	for _, f := range h.Fields {
		k := string(f.Key)
		out[k] = append(out[k], string(f.Value))
	}
	return out
}

// rawHeader is the inverse, restoring a status line nats.go parsed into
// the Status and Description keys.
func rawHeader(h nats.Header) []byte {
	if len(h) == 0 {
		return nil
	}
	status := 0
	if st := h.Get("Status"); st != "" {
		status, _ = strconv.Atoi(st)
	}
	b := natsproto.AppendStatusLine(nil, status, h.Get("Description"))
	for k, vs := range h {
		if k == "Status" || k == "Description" {
			continue
		}
		for _, v := range vs {
			b = natsproto.AppendField(b, k, v)
		}
	}
	return natsproto.AppendHeaderEnd(b)
}
