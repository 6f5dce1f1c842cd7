package jetstream

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// workerPool runs request handlers on goroutines that outlive one
// request. A fresh goroutine per request starts with a small stack and
// grows it (copying) on every request that reaches the deep parts of the
// path (raft proposal, routing the reply): profiles showed about 5% of a
// node's CPU in stack growth at 64 clients. A worker keeps its grown
// stack for the next request. The pool grows to the number of requests
// in flight, and a worker left idle for workerIdle exits.
type workerPool struct {
	handoff chan func() // unbuffered: a send succeeds only to an idle worker
	done    <-chan struct{}
	wg      *sync.WaitGroup
	idle    time.Duration // 0: workerIdle
	// busy counts the handlers handed over and not yet returned (see
	// waitIdle).
	busy atomic.Int64

	// mu orders starting goroutines against close: once closed, none
	// is added to wg, so the owner's wg.Wait never races an Add.
	mu     sync.Mutex
	closed bool
}

// workerIdle is how long a worker waits for work before exiting: it exits
// at the first tick of a workerIdle ticker that finds it idle since the
// tick before (so after between one and two workerIdle of idleness). A
// timer reset after every request cost a runtime timer update per
// request.
const workerIdle = 10 * time.Second

// run hands f to an idle worker, or starts a new one for it. After
// close, f is dropped: its server is shutting down.
func (p *workerPool) run(f func()) {
	p.busy.Add(1)
	select {
	case p.handoff <- f:
		return
	default:
	}
	if !p.spawn(func() { p.work(f) }) {
		p.busy.Add(-1)
	}
}

// spawn runs f on a new goroutine counted in wg, unless the pool is
// closed; it reports whether it did.
func (p *workerPool) spawn(f func()) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		f()
	}()
	return true
}

// close makes run and spawn start nothing more; the caller then waits
// for wg.
func (p *workerPool) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
}

func (p *workerPool) work(f func()) {
	idle := p.idle
	if idle <= 0 {
		idle = workerIdle
	}
	tick := time.NewTicker(idle)
	defer tick.Stop()
	for {
		f()
		p.busy.Add(-1)
		worked := true
		for f = nil; f == nil; {
			select {
			case f = <-p.handoff:
			case <-tick.C:
				if !worked {
					return
				}
				worked = false
			case <-p.done:
				return
			}
		}
	}
}

// waitIdle waits until no handler is running or handed over, or ctx
// ends; it reports whether the pool went idle. Handlers that never return
// (a consumer's delivery loop) must not run on the pool.
func (p *workerPool) waitIdle(ctx context.Context) bool {
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for p.busy.Load() > 0 {
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
	return true
}
