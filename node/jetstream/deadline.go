package jetstream

import (
	"context"
	"sync"
	"time"
)

// requestTimeout bounds every API request, as nats-server's own JetStream
// request timeout does for its clients.
const requestTimeout = 10 * time.Second

// deadlineShare is how long requests keep sharing one deadline context.
const deadlineShare = 100 * time.Millisecond

// sharedDeadlines hands out request contexts that expire requestTimeout
// after the request (up to deadlineShare earlier). A context of its own
// per request cost a runtime timer set and stopped per request (about 3 %
// of a node's CPU at 64 clients); the requests that start within the same
// deadlineShare share one context instead, which ends on its own timer.
// Nothing derives from these contexts per request (they only bound
// waits), so sharing one adds no contention on its lock: the node's
// request timeout, when shorter, is the timeout here, so that the node
// finds the deadline tight enough and derives nothing either.
type sharedDeadlines struct {
	parent  context.Context
	timeout time.Duration // 0: requestTimeout

	mu      sync.Mutex
	ctx     context.Context
	cancel  context.CancelFunc // kept for vet; the deadline releases it
	renewAt time.Time
}

func (d *sharedDeadlines) get() context.Context {
	now := time.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ctx == nil || !now.Before(d.renewAt) {
		timeout := d.timeout
		if timeout <= 0 {
			timeout = requestTimeout
		}
		d.ctx, d.cancel = context.WithDeadline(d.parent, now.Add(timeout))
		d.renewAt = now.Add(deadlineShare)
	}
	return d.ctx
}
