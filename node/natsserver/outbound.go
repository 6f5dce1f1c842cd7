package natsserver

import (
	"sync"
	"time"
)

// keepOutbound is the largest write buffer a connection keeps for reuse
// once it has been flushed; idle connections hold nothing bigger.
const keepOutbound = 32 << 10

// outbound is a connection's bounded write queue. Producers append
// under mu; the connection's writer goroutine swaps the buffer out and
// writes it, so everything queued between two wake-ups goes out in one
// syscall. A producer that finds no write in progress may write the
// queue itself (see client.flushInPlace), sparing the writer's wake-up;
// at most one write is in progress at a time.
type outbound struct {
	mu       sync.Mutex
	buf      []byte        // queued, not yet handed to the writer
	spare    []byte        // a flushed buffer kept for reuse
	inflight int           // bytes being written now
	writing  bool          // a write (the writer's or in place) is in progress
	stalled  bool          // an in-place write timed out: leave writes to the writer until it drains the queue
	closing  bool          // no more data is accepted; writer flushes and exits
	budget   time.Duration // write deadline for the final flush
	kick     chan struct{}
}

func newOutbound() outbound {
	return outbound{kick: make(chan struct{}, 1)}
}

// pendingLocked is what counts against MaxPending.
func (o *outbound) pendingLocked() int { return len(o.buf) + o.inflight }

// wake tells the writer there is work without ever blocking.
func (o *outbound) wake() {
	select {
	case o.kick <- struct{}{}:
	default:
	}
}

// take hands the queued bytes to the writer and sets the deadline for
// writing them (under mu, so a concurrent close can shorten it).
// closing reports whether this is the final flush. While a producer
// writes in place it hands over nothing; that producer wakes the writer
// when it is done.
func (o *outbound) take(setDeadline func(time.Time) error, normal time.Duration) (data []byte, closing bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.writing || len(o.buf) == 0 {
		return nil, o.closing && !o.writing
	}
	d := normal
	if o.closing {
		d = o.budget
	}
	_ = setDeadline(time.Now().Add(d))
	return o.startWriteLocked(), o.closing
}

// startWriteLocked hands the queued bytes to the one write allowed in
// progress (mu held).
func (o *outbound) startWriteLocked() []byte {
	data := o.buf
	o.buf, o.spare = o.spare[:0], nil
	o.inflight, o.writing = len(data), true
	return data
}

// endWriteLocked ends the write of data (mu held), keeping the buffer
// for reuse.
func (o *outbound) endWriteLocked(data []byte) {
	o.inflight, o.writing = 0, false
	if cap(data) <= keepOutbound && o.spare == nil {
		o.spare = data[:0]
	}
}

// done ends the writer's write of data; a drained queue ends a stall.
func (o *outbound) done(data []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.endWriteLocked(data)
	if len(o.buf) == 0 {
		o.stalled = false
	}
}
