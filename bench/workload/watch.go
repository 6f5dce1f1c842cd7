package workload

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/cairnkv/cairn/bench/measure"
	"github.com/cairnkv/cairn/bench/report"
)

// watcher is one watching connection of the watch workload.
type watcher struct {
	cl        Client
	rec       *measure.Recorder
	stopWatch func()
	cancel    context.CancelFunc
	delivered atomic.Int64 // measured deliveries
}

func (w *watcher) stop() {
	if w.stopWatch != nil {
		w.stopWatch()
	}
	if w.cancel != nil {
		w.cancel()
	}
	if w.cl != nil {
		_ = w.cl.Close()
	}
}

// Drain bounds: how long deliveries may stall, and in all, before the
// watchers are read out.
const (
	drainIdle = time.Second
	drainMax  = 10 * time.Second
)

// startWatchers connects the watchers and puts their watches in place.
func (r *runner) startWatchers(ctx context.Context) error {
	r.measureStartNS.Store(math.MaxInt64) // nothing before the run counts
	if r.cfg.Workload != Watch {
		return nil
	}
	r.watchers = make([]*watcher, r.cfg.Watchers)
	return r.parallel(ctx, r.cfg.Watchers, func(opCtx context.Context, i int) error {
		cl, err := r.tg.Connect(opCtx, r.cfg.Bucket)
		if err != nil {
			return fmt.Errorf("watcher %d: %w", i, err)
		}
		// The watch lives until the run closes it, beyond this
		// setup call's timeout.
		wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		w := &watcher{cl: cl, rec: measure.NewRecorder(), cancel: cancel}
		r.watchers[i] = w
		w.stopWatch, err = cl.Watch(wctx, func(_ string, v []byte) {
			sent, ok := stamp(v)
			if !ok {
				return
			}
			measured := sent.UnixNano() >= r.measureStartNS.Load()
			w.rec.Record("delivery", measure.Timing{Intended: sent, Start: sent, End: time.Now()}, len(v), measured)
			if measured {
				w.delivered.Add(1)
			}
		})
		if err != nil {
			return fmt.Errorf("watcher %d: %w", i, err)
		}
		return nil
	})
}

// delivered is the number of measured deliveries so far.
func (r *runner) delivered() int64 {
	var n int64
	for _, w := range r.watchers {
		n += w.delivered.Load()
	}
	return n
}

// drainWatchers waits until every measured put reached every watcher, or
// deliveries stall for drainIdle, or drainMax passes.
func (r *runner) drainWatchers(ctx context.Context) {
	if len(r.watchers) == 0 {
		return
	}
	want := measuredOps(r.recs) * int64(len(r.watchers))
	deadline := time.Now().Add(drainMax)
	last, lastChange := r.delivered(), time.Now()
	for ctx.Err() == nil && time.Now().Before(deadline) {
		got := r.delivered()
		if got >= want {
			return
		}
		if got != last {
			last, lastChange = got, time.Now()
		} else if time.Since(lastChange) > drainIdle {
			return
		}
		r.progress(Progress{Phase: "drain", Done: got, Total: want})
		sleepUntil(ctx, time.Now().Add(50*time.Millisecond))
	}
}

func measuredOps(recs []*measure.Recorder) int64 {
	var n int64
	for _, rec := range recs {
		n += rec.Ops()
	}
	return n
}

func (r *runner) summarizeWatchers(run *report.Run) {
	if len(r.watchers) == 0 {
		return
	}
	recs := make([]*measure.Recorder, len(r.watchers))
	for i, w := range r.watchers {
		recs[i] = w.rec
	}
	s := measure.Merge(recs)
	l := report.LatencyOf(s.Latency)
	run.Delivery = &l
	run.Deliveries = s.Ops
	run.ExpectedDeliveries = run.Ops * int64(len(r.watchers))
}
