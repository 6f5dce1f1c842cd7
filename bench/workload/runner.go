package workload

import (
	"context"
	"errors"
	"fmt"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairnkv/cairn/bench/dist"
	"github.com/cairnkv/cairn/bench/measure"
	"github.com/cairnkv/cairn/bench/report"
)

// Run runs cfg against tg and summarizes it. The run ends when its
// duration or op count is reached, or early when ctx ends (Ctrl-C): then
// the result holds what was measured so far and is marked interrupted.
// An error means the run could not start (bad options, no connection, a
// failed load); errors of single operations are counted in the result.
//
// Everything the run starts (connections included) carries the pprof
// label bench=client, so a CPU profile of a process that also hosts the
// server can be split between the two.
func Run(ctx context.Context, tg Target, cfg Config) (run report.Run, err error) {
	pprof.Do(ctx, pprof.Labels("bench", "client"), func(ctx context.Context) {
		run, err = runLabelled(ctx, tg, cfg)
	})
	return run, err
}

func runLabelled(ctx context.Context, tg Target, cfg Config) (report.Run, error) {
	if err := cfg.ApplyDefaults(); err != nil {
		return report.Run{}, err
	}
	run := report.Run{Target: tg.Name(), Workload: cfg.DisplayName(), Params: cfg.params()}
	if why := tg.Unsupported(cfg.Workload); why != "" {
		run.Unsupported = why
		return run, nil
	}
	r := newRunner(tg, cfg)
	// Cleanup outlives an interrupted ctx, bounded on its own.
	cleanupCtx := context.WithoutCancel(ctx)
	defer r.close(cleanupCtx)
	if err := r.prepare(ctx); err != nil {
		if ctx.Err() != nil {
			run.Interrupted = true
			return run, nil
		}
		return run, err
	}
	r.measure(ctx)
	r.drainWatchers(ctx)
	r.summarize(&run, ctx.Err() != nil)
	return run, nil
}

func (c *Config) params() report.Params {
	p := report.Params{
		Clients:   c.Clients,
		InFlight:  c.InFlight,
		Ops:       c.Ops,
		Rate:      c.Rate,
		Keyspace:  c.Keyspace,
		KeyDist:   string(c.KeyDist),
		ValueSize: c.ValueSize,
		Replicas:  c.Bucket.Replicas,
		Storage:   c.Bucket.Storage,
		History:   c.Bucket.History,
		Seed:      c.Seed,
		Watchers:  c.Watchers,
	}
	if c.Duration > 0 {
		p.Duration = c.Duration.String()
	}
	if c.Warmup > 0 {
		p.Warmup = c.Warmup.String()
	}
	if c.Workload == Mixed {
		p.Mix = c.Mix
	}
	if c.Workload == CAS {
		p.HotKeys = c.Keyspace
	}
	if c.KeyDist == dist.Zipfian && c.Scrambled {
		p.KeyDist += " (scrambled)"
	}
	return p
}

type runner struct {
	cfg      Config
	tg       Target
	kind     kind
	ins      *inserts
	conns    []Client // one per client; InFlight workers share each
	workers  []*worker
	recs     []*measure.Recorder
	watchers []*watcher
	setUp    bool

	measureStart   time.Time
	measureStartNS atomic.Int64 // the same, for watcher goroutines
	end            time.Time
	finished       time.Time
	claimed        atomic.Int64
	intervals      []report.Interval
	errorsSoFar    int64
}

func newRunner(tg Target, cfg Config) *runner {
	r := &runner{cfg: cfg, tg: tg, ins: newInserts(uint64(cfg.Keyspace))}
	r.kind = newKind(&r.cfg, r.ins)
	return r
}

func (r *runner) progress(p Progress) {
	if r.cfg.Progress != nil {
		p.Target, p.Workload = r.tg.Name(), r.cfg.DisplayName()
		r.cfg.Progress(p)
	}
}

// prepare sets up the bucket, connects the clients and watchers and runs
// the load phase.
func (r *runner) prepare(ctx context.Context) error {
	c := &r.cfg
	size, _ := dist.ParseSize(c.ValueSize) // validated
	table, err := dist.NewTable(dist.Spec{Kind: c.KeyDist, Keys: uint64(c.Keyspace), Scrambled: c.Scrambled}, r.ins.visible)
	if err != nil {
		return err
	}
	payload := dist.NewPayload(c.Seed, max(size.Max, 1)*2+4096)

	r.progress(Progress{Phase: "setup"})
	if c.Workload != BucketCreate {
		if err := r.withTimeout(ctx, func(ctx context.Context) error { return r.tg.Setup(ctx, c.Bucket) }); err != nil {
			return fmt.Errorf("setting up bucket %s: %w", c.Bucket.Name, err)
		}
		r.setUp = true
	}
	r.conns = make([]Client, c.Clients)
	err = r.parallel(ctx, c.Clients, func(ctx context.Context, i int) error {
		cl, err := r.tg.Connect(ctx, c.Bucket)
		if err != nil {
			return fmt.Errorf("client %d: %w", i, err)
		}
		r.conns[i] = cl
		return nil
	})
	if err != nil {
		r.closeConns()
		return fmt.Errorf("connecting: %w", err)
	}
	n := c.Clients * c.InFlight
	r.workers = make([]*worker, n)
	r.recs = make([]*measure.Recorder, n)
	for i := range n {
		rng := dist.NewRand(c.Seed, uint64(i))
		r.workers[i] = &worker{id: i, cl: r.conns[i/c.InFlight], rng: rng, keys: table.Chooser(rng), sizes: size, payload: payload}
		r.recs[i] = measure.NewRecorder()
	}
	if err := r.startWatchers(ctx); err != nil {
		return err
	}
	return r.load(ctx)
}

// withTimeout runs fn with the per-operation timeout.
func (r *runner) withTimeout(ctx context.Context, fn func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.OpTimeout)
	defer cancel()
	return fn(ctx)
}

// parallel runs fn(i) for i in [0,n) on up to 64 goroutines at a time
// and returns the first error.
func (r *runner) parallel(ctx context.Context, n int, fn func(ctx context.Context, i int) error) error {
	sem := make(chan struct{}, 64)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = r.withTimeout(ctx, func(ctx context.Context) error { return fn(ctx, i) })
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// load writes the workload's initial keys, spread over the clients.
func (r *runner) load(ctx context.Context) error {
	keys, rounds := r.kind.preload()
	if keys == 0 {
		return nil
	}
	total := int64(keys * rounds)
	var done atomic.Int64
	stop := r.every(func() {
		r.progress(Progress{Phase: "load", Done: done.Load(), Total: total})
	})
	defer stop()
	return r.parallel(ctx, len(r.workers), func(_ context.Context, i int) error {
		w := r.workers[i]
		for round := 0; round < rounds; round++ {
			for k := i; k < keys; k += len(r.workers) {
				err := r.withTimeout(ctx, func(ctx context.Context) error {
					_, err := w.cl.Put(ctx, KeyName(uint64(k)), w.value())
					return err
				})
				if err != nil {
					return fmt.Errorf("loading key %d: %w", k, err)
				}
				done.Add(1)
			}
		}
		return nil
	})
}

// every calls fn each progress interval until the returned stop is called.
func (r *runner) every(fn func()) (stop func()) {
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(r.cfg.ProgressInterval)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				fn()
			}
		}
	}()
	return func() { close(quit); wg.Wait() }
}

// measure runs the clients through warm-up and the measured phase.
func (r *runner) measure(ctx context.Context) {
	c := &r.cfg
	start := time.Now()
	r.measureStart = start.Add(c.Warmup)
	r.measureStartNS.Store(r.measureStart.UnixNano())
	limit := c.Duration
	if limit == 0 {
		limit = MaxDuration
	}
	r.end = r.measureStart.Add(limit)

	done := make(chan struct{})
	var wg sync.WaitGroup
	for i, w := range r.workers {
		interval, phase := measure.ClientPacing(c.Rate, len(r.workers), i)
		p := measure.NewPacer(start, interval, phase)
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Labels let a CPU profile of an in-process run tell
			// the harness's goroutines from the server's.
			pprof.Do(ctx, pprof.Labels("worker", strconv.Itoa(i)), func(ctx context.Context) {
				r.work(ctx, w, r.recs[i], p)
			})
		}()
	}
	go func() { wg.Wait(); close(done) }()

	last := start
	tick := time.NewTicker(c.ProgressInterval)
	defer tick.Stop()
	for {
		select {
		case <-done:
			r.finished = time.Now()
			r.sample(last, r.finished, true)
			return
		case now := <-tick.C:
			r.sample(last, now, false)
			last = now
		}
	}
}

// sample collects the live interval from last to now into the time
// series and the progress line.
func (r *runner) sample(last, now time.Time, final bool) {
	iv := measure.Collect(r.recs)
	r.errorsSoFar += iv.Errors
	dt := now.Sub(last).Seconds()
	if dt <= 0 {
		return
	}
	rate := float64(iv.Ops) / dt
	p99 := time.Duration(iv.Latency.ValueAtQuantile(99)) * time.Microsecond
	if now.After(r.measureStart) && (!final || dt >= r.cfg.ProgressInterval.Seconds()/2) {
		r.intervals = append(r.intervals, report.Interval{
			T:         now.Sub(r.measureStart).Seconds(),
			OpsPerSec: rate,
			Errors:    iv.Errors,
			P50US:     float64(iv.Latency.ValueAtQuantile(50)),
			P99US:     float64(p99 / time.Microsecond),
		})
	}
	if final {
		return
	}
	p := Progress{Phase: "run", OpsPerSec: rate, P99: p99, Errors: r.errorsSoFar}
	if now.Before(r.measureStart) {
		p.Phase = "warmup"
		p.Remaining = r.measureStart.Sub(now)
	} else {
		p.Elapsed = now.Sub(r.measureStart)
		if r.cfg.Duration > 0 {
			p.Remaining = max(r.end.Sub(now), 0)
			p.Total = int64(r.cfg.Duration / time.Second)
		}
		if r.cfg.Ops > 0 {
			p.Done, p.Total = min(r.claimed.Load(), r.cfg.Ops), r.cfg.Ops
			if rate > 0 {
				left := time.Duration(float64(p.Total-p.Done) / rate * float64(time.Second))
				if p.Remaining == 0 || left < p.Remaining {
					p.Remaining = left
				}
			}
		}
	}
	r.progress(p)
}

// unavailableBackoff keeps a closed-loop client from spinning on a
// server that refuses at once.
const unavailableBackoff = 10 * time.Millisecond

// work is one client's loop.
func (r *runner) work(ctx context.Context, w *worker, rec *measure.Recorder, p *measure.Pacer) {
	for ctx.Err() == nil {
		due := p.Next(time.Now())
		if !due.Before(r.end) {
			return
		}
		measured := !due.Before(r.measureStart)
		if measured && r.cfg.Ops > 0 && r.claimed.Add(1) > r.cfg.Ops {
			return
		}
		if !sleepUntil(ctx, due) {
			return
		}
		start := time.Now()
		opCtx, cancel := context.WithTimeout(ctx, r.cfg.OpTimeout)
		op, bytes, err := r.kind.op(opCtx, w, due)
		cancel()
		end := time.Now()
		if err == nil {
			rec.Record(op, measure.Timing{Intended: due, Start: start, End: end}, bytes, measured)
			continue
		}
		if ctx.Err() != nil {
			return // interrupted: the operation was cut short by us
		}
		class := Classify(err)
		rec.Error(class, err.Error(), measured)
		if class == ClassUnavailable && !p.Open() {
			sleepUntil(ctx, time.Now().Add(unavailableBackoff))
		}
	}
}

// sleepUntil waits for t; false if ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// close deletes what the run made and closes every connection.
func (r *runner) close(ctx context.Context) {
	for _, wa := range r.watchers {
		wa.stop()
	}
	var created int64
	for _, w := range r.workers {
		if w != nil {
			created += int64(len(w.created))
		}
	}
	if created > 0 {
		var gone atomic.Int64
		stop := r.every(func() { r.progress(Progress{Phase: "cleanup", Done: gone.Load(), Total: created}) })
		_ = r.parallel(ctx, len(r.workers), func(_ context.Context, i int) error {
			for _, name := range r.workers[i].created {
				_ = r.withTimeout(ctx, func(ctx context.Context) error { return r.workers[i].cl.DeleteBucket(ctx, name) })
				gone.Add(1)
			}
			return nil
		})
		stop()
	}
	if r.setUp && !r.cfg.Keep {
		if err := r.withTimeout(ctx, func(ctx context.Context) error { return r.tg.Teardown(ctx, r.cfg.Bucket) }); err != nil {
			r.cfg.Logger.Warn("could not remove the benchmark bucket", "bucket", r.cfg.Bucket.Name, "err", err)
		}
	}
	r.closeConns()
}

func (r *runner) closeConns() {
	for _, cl := range r.conns {
		if cl != nil {
			_ = cl.Close()
		}
	}
}

// summarize fills run from the measurements.
func (r *runner) summarize(run *report.Run, interrupted bool) {
	stats := measure.Merge(r.recs)
	run.Interrupted = interrupted
	if !r.finished.IsZero() && r.finished.After(r.measureStart) {
		run.Elapsed = r.finished.Sub(r.measureStart).Seconds()
	}
	run.Ops = stats.Ops
	if run.Elapsed > 0 {
		run.OpsPerSec = float64(stats.Ops) / run.Elapsed
		run.BytesPerSec = float64(stats.Bytes) / run.Elapsed
	}
	run.Conflicts = stats.ErrorClasses[ClassConflict]
	delete(stats.ErrorClasses, ClassConflict)
	delete(stats.ErrorSamples, ClassConflict)
	run.Errors = stats.Errors - run.Conflicts
	if len(stats.ErrorClasses) > 0 {
		run.ErrorClasses = stats.ErrorClasses
		run.ErrorSamples = stats.ErrorSamples
	}
	run.Latency = report.LatencyOf(stats.Latency)
	if r.cfg.Rate > 0 {
		s := report.LatencyOf(stats.Service)
		run.Service = &s
	}
	if len(stats.ByOp) > 1 {
		run.ByOp = map[string]report.Latency{}
		for op, h := range stats.ByOp {
			run.ByOp[op] = report.LatencyOf(h)
		}
	}
	run.Intervals = r.intervals
	r.summarizeWatchers(run)
}
