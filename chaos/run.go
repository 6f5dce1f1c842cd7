package chaos

import (
	"context"
	"fmt"
	"github.com/cairnkv/cairn/bench/target"
	"github.com/nats-io/nats.go"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/cairnkv/cairn/chaos/checker"
	"github.com/cairnkv/cairn/chaos/db"
	"github.com/cairnkv/cairn/chaos/history"
	"github.com/cairnkv/cairn/chaos/nemesis"
	"github.com/cairnkv/cairn/chaos/workload"
)

// Bucket names.
const (
	RegisterBucket = "chaos-reg"
	SetBucket      = "chaos-set"
)

// finalTimeout bounds each step of the final phase (tombstone, scans,
// watchers catching up).
const finalTimeout = 90 * time.Second

// run is one chaos run in progress.
type run struct {
	cfg      Config
	log      *history.Log
	progress *workload.Progress
	local    *db.Local // nil for an external cluster
	target   nemesis.Target
	nem      *nemesis.Nemesis
	skipped  map[string]string
	urls     []string
	natsOpts []nats.Option // what the clients need besides the URLs (TLS)
	names    []string
	watchers []*workload.Watcher
	conns    []*workload.Conn
	buckets  []string

	watchWG      sync.WaitGroup
	stopWatchers context.CancelFunc
}

// Run runs a chaos test and returns its report. The error is for a run
// that could not be carried out (the cluster did not start, ...); the
// anomalies found are in the report. ctx ending (Ctrl-C) ends the load
// early; the run still heals, checks and cleans up.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Seed == 0 {
		cfg.Seed = uint64(time.Now().UnixNano())
	}
	r := &run{cfg: cfg, log: history.NewLog(), progress: workload.NewProgress()}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil && cfg.Dir != "" {
		return nil, err
	}
	if err := r.setUp(ctx); err != nil {
		return nil, err
	}
	if r.local != nil {
		defer func() {
			if err := r.local.Close(); err != nil {
				cfg.Logger.Warn("stopping the cluster", "err", err)
			}
		}()
	}
	defer func() {
		for _, c := range r.conns {
			c.Close()
		}
	}()
	rep := r.newReport()
	r.load(ctx)
	r.final(ctx, rep)
	return rep, nil
}

// setUp starts (or finds) the cluster, picks the faults, connects the
// clients and creates the buckets.
func (r *run) setUp(ctx context.Context) error {
	cfg := &r.cfg
	if cfg.has(Register) {
		r.buckets = append(r.buckets, RegisterBucket)
	}
	if cfg.has(SetW) {
		r.buckets = append(r.buckets, SetBucket)
	}
	if cfg.external() {
		for _, n := range cfg.Nemeses {
			if n != "" && n != "none" {
				return fmt.Errorf("--nemesis %s: the harness cannot inject faults into a cluster it did not start (--servers); leave --nemesis out and inject faults yourself (docker kill, docker pause, ...)", n)
			}
		}
		r.urls, r.names = cfg.Servers, RedactedServers(cfg.Servers)
		if cfg.ServersCA != "" {
			r.natsOpts = []nats.Option{nats.RootCAs(cfg.ServersCA)}
		}
	} else {
		l, t, err := startLocal(ctx, cfg)
		if err != nil {
			return err
		}
		r.local, r.target = l, t
		r.urls, r.natsOpts = l.URLs(), l.NATSOptions()
		for i := range l.Size() {
			r.names = append(r.names, l.Name(i))
		}
		use, skipped, err := nemesis.Resolve(cfg.Nemeses, t)
		if err != nil {
			l.Close()
			return err
		}
		r.skipped = skipped
		r.nem = nemesis.New(nemesis.Config{Faults: use, Interval: cfg.Interval, Hold: cfg.Hold, Buckets: r.buckets,
			RecoverTimeout: cfg.RecoverTimeout, Seed: cfg.Seed, Clock: r.log.Now, Logger: cfg.Logger}, t)
	}
	admin, err := r.dial(0, "cairn chaos admin")
	if err != nil {
		return r.fail(err)
	}
	bctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := workload.CreateBuckets(bctx, admin, r.buckets, map[string]int{RegisterBucket: cfg.Replicas, SetBucket: cfg.SetReplicas}); err != nil {
		return r.fail(err)
	}
	if r.local != nil {
		if err := r.local.WaitHealthy(bctx, r.buckets); err != nil {
			return r.fail(err)
		}
	}
	return nil
}

// fail stops a local cluster after a failed set-up.
func (r *run) fail(err error) error {
	if r.local != nil {
		r.local.Close()
	}
	return err
}

func (r *run) dial(home int, name string) (*workload.Conn, error) {
	c, err := workload.Dial(r.urls, home, name, r.natsOpts...)
	if err != nil {
		return nil, err
	}
	r.conns = append(r.conns, c)
	return c, nil
}

func (r *run) dialN(n, offset int, name string) ([]*workload.Conn, error) {
	var cs []*workload.Conn
	for i := range n {
		c, err := r.dial(offset+i, fmt.Sprintf("%s %d", name, i))
		if err != nil {
			return nil, err
		}
		cs = append(cs, c)
	}
	return cs, nil
}

// load runs the workloads, the watchers and the nemesis for the run's
// duration, with the live summary; then the nemesis heals.
func (r *run) load(ctx context.Context) {
	cfg := &r.cfg
	lctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	maxOps := int(cfg.Rate*cfg.Duration.Seconds()*2) + 1000
	if cfg.Rate <= 0 {
		maxOps = 10_000_000
	}
	var wg sync.WaitGroup
	goDo := func(f func()) {
		wg.Add(1)
		go func() { defer wg.Done(); f() }()
	}
	wctx, stopWatchers := context.WithCancel(context.WithoutCancel(ctx))
	r.startWatchers(wctx)
	r.stopWatchers = stopWatchers
	if cfg.has(Register) {
		if cs, err := r.dialN(cfg.Clients, 0, "cairn chaos register"); err == nil {
			reg := workload.Register{Bucket: RegisterBucket, Slots: cfg.Slots, PerKey: cfg.PerKey, Rate: cfg.Rate, OpTimeout: cfg.OpTimeout, MaxOps: maxOps, Seed: cfg.Seed, Refusals: refusals(cfg.Target)}
			goDo(func() { workload.RunRegister(lctx, reg, cs, r.log, r.progress) })
		} else {
			cfg.Logger.Error("register clients", "err", err)
		}
	}
	if cfg.has(SetW) {
		if cs, err := r.dialN(cfg.SetClients, cfg.Clients, "cairn chaos set"); err == nil {
			set := workload.Set{Bucket: SetBucket, Rate: cfg.Rate, OpTimeout: cfg.OpTimeout, MaxOps: maxOps, Refusals: refusals(cfg.Target)}
			goDo(func() { workload.RunSet(lctx, set, cs, r.log, r.progress) })
		} else {
			cfg.Logger.Error("set clients", "err", err)
		}
	}
	if r.nem != nil {
		goDo(func() { r.nem.Run(lctx) })
	}
	live := r.startLive(lctx)
	wg.Wait()
	live()
}

// startWatchers starts the watchers: one on every key of the register
// bucket, the others on one slot's keys each. They run until the final
// phase has checked they caught up.
func (r *run) startWatchers(ctx context.Context) {
	cfg := &r.cfg
	if !cfg.has(WatchW) || cfg.Watchers == 0 {
		return
	}
	cs, err := r.dialN(cfg.Watchers, 0, "cairn chaos watch")
	if err != nil {
		cfg.Logger.Error("watch clients", "err", err)
		return
	}
	for i, c := range cs {
		filter := ">"
		if i > 0 {
			filter = workload.SlotFilter((i - 1) % cfg.Slots)
		}
		w := &workload.Watcher{ID: i, Bucket: RegisterBucket, Filter: filter, Conn: c, Log: r.log, Progress: r.progress,
			StallAfter: 10 * time.Second, MaxEvents: 5_000_000}
		r.watchers = append(r.watchers, w)
		r.watchWG.Add(1)
		go func() { defer r.watchWG.Done(); w.Run(ctx) }()
	}
}

// final heals, writes the tombstones, scans every node, waits for the
// watchers and checks everything.
func (r *run) final(ctx context.Context, rep *Report) {
	cfg := &r.cfg
	fctx := context.WithoutCancel(ctx) // checks run even after Ctrl-C
	rep.LoadEnded = time.Since(r.log.Start())
	if r.nem != nil {
		hctx, cancel := context.WithTimeout(fctx, cfg.RecoverTimeout)
		if err := r.nem.Recover(hctx); err != nil {
			rep.add(checker.Anomaly{Kind: checker.KindUnavailable, Detail: "the cluster was not healthy after the last fault healed: " + err.Error()})
		}
		cancel()
	}
	fmt.Fprintf(cfg.Out, "load ended after %s; final writes and scans\n", rep.LoadEnded.Round(time.Second))
	admin, err := r.dial(0, "cairn chaos final")
	tomb := map[string]uint64{}
	for _, b := range r.buckets {
		if err != nil {
			break
		}
		tctx, cancel := context.WithTimeout(fctx, finalTimeout)
		rev, terr := workload.Tombstone(tctx, admin, b, r.progress)
		cancel()
		if terr != nil {
			rep.add(checker.Anomaly{Kind: checker.KindUnavailable, Detail: terr.Error()})
			continue
		}
		tomb[b] = rev
	}
	scans := r.scan(fctx, tomb)
	r.check(fctx, rep, tomb, scans)
}

// scan reads every bucket through every node, in parallel.
func (r *run) scan(ctx context.Context, tomb map[string]uint64) []history.Scan {
	var mu sync.Mutex
	var out []history.Scan
	var wg sync.WaitGroup
	for _, b := range r.buckets {
		until, ok := tomb[b]
		if !ok {
			continue
		}
		for i, u := range r.urls {
			if r.local != nil && !r.local.Running(i) {
				continue
			}
			name := r.names[i]
			if r.local != nil {
				name = r.local.Name(i)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				sctx, cancel := context.WithTimeout(ctx, finalTimeout)
				s := workload.Scan(sctx, u, name, b, until, r.natsOpts...)
				cancel()
				if r.local != nil {
					s.Unreachable = false // a running node of ours must answer
				}
				mu.Lock()
				out = append(out, s)
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	return out
}

// reportPath is where a run file goes.
func (r *run) path(name string) string {
	if r.cfg.Dir == "" {
		return ""
	}
	return filepath.Join(r.cfg.Dir, name)
}

// refusals are the target's answers that prove a write was not carried
// out: cairn's are known (workload.CairnRefusals); for other targets
// every error but a revision mismatch is an unknown outcome.
func refusals(target string) workload.Refusals {
	if target == db.Cairn {
		return workload.CairnRefusals
	}
	return nil
}

// RedactedServers is servers with the credentials in their URLs masked:
// what reports, logs and node names show.
func RedactedServers(servers []string) []string {
	out := make([]string, len(servers))
	for i, s := range servers {
		out[i] = target.RedactURLs(s)
	}
	return out
}
