package jetstream

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The pool never makes a handler wait for another: as many run at once
// as are handed in (a handler may block on a reply that needs another
// handler), and closing it lets every worker go.
func TestWorkerPoolRunsEveryHandlerAtOnce(t *testing.T) {
	var wg sync.WaitGroup
	done := make(chan struct{})
	p := workerPool{handoff: make(chan func()), done: done, wg: &wg}

	for round := range 3 {
		const n = 100
		var started sync.WaitGroup
		started.Add(n)
		release := make(chan struct{})
		finished := make(chan struct{}, n)
		for range n {
			p.run(func() {
				started.Done()
				<-release
				finished <- struct{}{}
			})
		}
		all := make(chan struct{})
		go func() { started.Wait(); close(all) }()
		select {
		case <-all:
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: not all %d handlers started", round, n)
		}
		close(release)
		for range n {
			<-finished
		}
	}

	close(done)
	waitExited(t, &wg, "workers did not exit after close")
}

// waitExited fails the test unless every worker of wg exits in time.
func waitExited(t *testing.T, wg *sync.WaitGroup, failure string) {
	t.Helper()
	exited := make(chan struct{})
	go func() { wg.Wait(); close(exited) }()
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatal(failure)
	}
}

// A worker that has had nothing to do for a while exits.
func TestWorkerPoolIdleWorkersExit(t *testing.T) {
	var wg sync.WaitGroup
	done := make(chan struct{})
	defer close(done)
	p := workerPool{handoff: make(chan func()), done: done, wg: &wg, idle: 20 * time.Millisecond}

	ran := make(chan struct{})
	p.run(func() { close(ran) })
	<-ran
	waitExited(t, &wg, "an idle worker did not exit")
}

// waitIdle waits for every handler handed in, whether it went to an
// idle worker or a new one, and gives up when its context ends.
func TestWorkerPoolWaitIdle(t *testing.T) {
	var wg sync.WaitGroup
	done := make(chan struct{})
	defer func() { close(done); wg.Wait() }()
	p := workerPool{handoff: make(chan func()), done: done, wg: &wg}
	if !p.waitIdle(context.Background()) {
		t.Fatal("an empty pool is not idle")
	}
	for round := range 2 { // the second round reuses the first's workers
		release := make(chan struct{})
		for range 5 {
			p.run(func() { <-release })
		}
		short, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		idle := p.waitIdle(short)
		cancel()
		if idle {
			t.Fatalf("round %d: idle while five handlers block", round)
		}
		close(release)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		idle = p.waitIdle(ctx)
		cancel()
		if !idle {
			t.Fatalf("round %d: not idle after every handler returned (busy %d)", round, p.busy.Load())
		}
	}
}

// Handlers handed in while the pool closes either run or are dropped,
// and none starts after close: the owner's Wait never races an Add
// (which the race detector reports).
func TestWorkerPoolCloseWhileRunning(t *testing.T) {
	var wg sync.WaitGroup
	done := make(chan struct{})
	p := workerPool{handoff: make(chan func()), done: done, wg: &wg}
	var senders sync.WaitGroup
	var ran atomic.Int64
	stop := make(chan struct{})
	for range 4 {
		senders.Add(1)
		go func() {
			defer senders.Done()
			for {
				select {
				case <-stop:
					return
				default:
					p.run(func() { ran.Add(1) })
				}
			}
		}()
	}
	for ran.Load() < 100 { // close while handlers flow
		runtime.Gosched()
	}
	close(done)
	p.close()
	wg.Wait()
	if p.spawn(func() { t.Error("spawned after close") }) {
		t.Fatal("spawn after close reported success")
	}
	close(stop)
	senders.Wait()
	wg.Wait()
}
