package natsserver

import (
	"errors"
	"net"
	"time"

	"github.com/cairnkv/cairn/node/natsproto"
)

// writeLoop owns the socket's write side: it writes whatever was queued
// since its last wake-up in one call, sends server PINGs, and on close
// flushes the last bytes and closes the socket.
func (c *client) writeLoop() {
	defer close(c.writerDone)
	defer c.nc.Close() // wakes the read loop
	cfg := &c.srv.cfg
	ping := time.NewTicker(cfg.PingInterval)
	defer ping.Stop()
	for {
		select {
		case <-c.out.kick:
		case <-ping.C:
			c.ping()
		}
		data, closing := c.out.take(c.nc.SetWriteDeadline, cfg.WriteDeadline)
		if len(data) > 0 {
			_, err := c.nc.Write(data)
			c.out.done(data)
			if err != nil {
				if !c.isClosing() {
					var ne net.Error
					if errors.As(err, &ne) && ne.Timeout() {
						c.srv.stats.slowConsumers.Add(1)
						c.log.Warn("slow consumer: write deadline exceeded", "bytes", len(data))
					}
					c.closeConn("write: "+err.Error(), "", true)
				}
				return
			}
		}
		if closing {
			return
		}
	}
}

// ping sends a server PING, or closes the connection as stale when too
// many are unanswered.
func (c *client) ping() {
	if int(c.pingsOut.Load()) >= c.srv.cfg.MaxPingsOut {
		c.log.Debug("stale connection")
		c.closeConn("stale connection", "Stale Connection", false)
		return
	}
	c.pingsOut.Add(1)
	c.queueProto(natsproto.PingLine)
}

// reserve locks the outbound buffer for appending n bytes. It returns
// false (unlocked) if the connection is closing or n more bytes would
// exceed MaxPending, in which case the client is cut off as a slow
// consumer. On true the caller appends to c.out.buf and calls commit.
func (c *client) reserve(n int) bool {
	c.out.mu.Lock()
	if c.out.closing {
		c.out.mu.Unlock()
		return false
	}
	if c.out.pendingLocked()+n > c.srv.cfg.MaxPending {
		pending := c.out.pendingLocked()
		c.out.mu.Unlock()
		c.srv.stats.slowConsumers.Add(1)
		c.log.Warn("slow consumer: max pending exceeded", "pending", pending, "max", c.srv.cfg.MaxPending)
		c.closeConn("slow consumer", "Slow Consumer", true)
		return false
	}
	return true
}

func (c *client) commit() {
	c.out.mu.Unlock()
	c.out.wake()
}

// In-place writes: at most inPlaceMax bytes, within inPlaceBudget.
const (
	inPlaceMax    = 64 << 10
	inPlaceBudget = time.Millisecond
)

// flushInPlace is commit for a message delivery: when no write is in
// progress it writes the queue on the producer's goroutine (as
// nats-server's producers flush their clients) instead of waking the
// writer, which would cost a goroutine wake-up per message at one
// request per client. A write the socket does not take within
// inPlaceBudget (a client not reading) leaves its rest, ahead of what
// queued meanwhile, to the writer, which applies the write deadline and
// the slow-consumer cut-off; until the writer has drained the queue,
// producers only queue. Errors are left to the writer too, which meets
// them on its next write.
func (c *client) flushInPlace() {
	o := &c.out
	if o.writing || o.stalled || o.closing || len(o.buf) > inPlaceMax || c.tls {
		// Never in place over TLS: a TLS write cut short by its
		// deadline leaves the connection unusable (crypto/tls), so the
		// short budget would close clients that are only slow.
		c.commit()
		return
	}
	data := o.startWriteLocked()
	_ = c.nc.SetWriteDeadline(time.Now().Add(inPlaceBudget))
	o.mu.Unlock()

	n, err := c.nc.Write(data)

	o.mu.Lock()
	if err != nil && n < len(data) {
		o.stalled = true
		c.srv.stats.inPlaceStalls.Add(1)
		o.buf = append(append(make([]byte, 0, len(data)-n+len(o.buf)), data[n:]...), o.buf...)
		data = nil // its rest was copied; nothing to keep
	}
	o.endWriteLocked(data)
	more := len(o.buf) > 0 || o.closing
	o.mu.Unlock()
	if more {
		o.wake()
	}
}

func (c *client) queueProto(line string) {
	if c.reserve(len(line)) {
		c.out.buf = append(c.out.buf, line...)
		c.commit()
	}
}

func (c *client) queueErr(text string) {
	if c.reserve(len(text) + 9) {
		c.out.buf = natsproto.AppendErr(c.out.buf, text)
		c.commit()
	}
}

func (c *client) sendOK() {
	if c.opts.Verbose {
		c.queueProto(natsproto.OKLine)
	}
}

// sendMsg queues one MSG or HMSG for sub; hdr == nil means MSG. Headers
// are stripped for clients that did not negotiate them. With held, the
// write waits for the end of the caller's batch (see heldClients).
func (c *client) sendMsg(sub *subscription, subject, reply, hdr, data []byte, held *heldClients) bool {
	if hdr != nil && !c.headers.Load() {
		hdr = nil
	}
	var size int
	if hdr != nil {
		size = natsproto.HMsgSize(len(subject), len(sub.sid), len(reply), len(hdr), len(data))
	} else {
		size = natsproto.MsgSize(len(subject), len(sub.sid), len(reply), len(data))
	}
	if !c.reserve(size) {
		return false
	}
	if hdr != nil {
		c.out.buf = natsproto.AppendHMsg(c.out.buf, subject, sub.sid, reply, hdr, data)
	} else {
		c.out.buf = natsproto.AppendMsg(c.out.buf, subject, sub.sid, reply, data)
	}
	if held != nil {
		c.out.mu.Unlock()
		held.add(c)
	} else {
		c.flushInPlace()
	}
	c.srv.stats.delivered(len(hdr) + len(data))
	return true
}

// heldClients are the clients a batch of in-process publishes queued
// messages for without writing them yet: flush writes each one's queue
// once, so a consumer delivering several messages at once costs a
// subscriber one write, not one per message.
type heldClients []*client

func (h *heldClients) add(c *client) {
	for _, have := range *h {
		if have == c {
			return
		}
	}
	*h = append(*h, c)
}

func (h *heldClients) flush() {
	for _, c := range *h {
		c.out.mu.Lock()
		c.flushInPlace()
	}
}
