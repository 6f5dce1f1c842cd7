package compare

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/cairnkv/cairn/bench/cluster"
	"github.com/cairnkv/cairn/bench/report"
	"github.com/cairnkv/cairn/bench/target"
	"github.com/cairnkv/cairn/bench/workload"
)

// Config is one comparison.
type Config struct {
	// Workloads to run, e.g. put, get, mixed-a.
	Workloads []string
	// Targets to compare; the first is the one ratios are taken for.
	Targets []string
	// Nodes per cluster, and for cairn alone (0: Nodes).
	Nodes, CairnNodes int
	// Binaries: cairn (usually this executable), nats-server, etcd.
	CairnBin, NATSBin, EtcdBin string
	// CairnBBin and CairnBNodes make the second cairn target, CairnB:
	// another build (0 or empty: as cairn) or another cluster size, to
	// compare cairn with itself.
	CairnBBin   string
	CairnBNodes int
	// WorkDir holds the clusters' data and logs; removed afterwards
	// unless KeepData.
	WorkDir  string
	KeepData bool
	// OutDir receives results.json, results.md, report.html and logs.
	OutDir string
	// Run is the template of every run. Its replicas default to each
	// cluster's size (at most 3).
	Run workload.Config
	// NATSSyncAlways makes nats-server fsync before acknowledging.
	NATSSyncAlways bool
	// IdleWindow is how long each cluster's idle CPU is measured.
	IdleWindow time.Duration
	// Rounds is how many times the whole matrix runs (0 or 1: once).
	// Each round runs the targets in the opposite order to the last, so
	// that none always goes first after a workload changes.
	Rounds int
	// ProfileEnv, if set, is the environment variable that makes a cairn
	// process write a CPU profile to the file it names until it is
	// stopped; each cairn node then profiles its whole life into
	// OutDir/cpu-NODE.pprof.
	ProfileEnv string
	// Command and Harness are recorded in the result.
	Command, Harness string
	// Progress receives live progress; Logger the harness's own notes.
	Progress func(workload.Progress)
	Logger   *slog.Logger
}

// CairnB is a second cairn cluster, with its own binary or size
// (Config.CairnBBin, CairnBNodes), for comparing builds or sizes.
const CairnB = "cairn-b"

// clientKind is the kind of target that drives kind: cairn-b is a cairn.
func clientKind(kind string) string {
	if kind == CairnB {
		return target.Cairn
	}
	return kind
}

// ReadyTimeout bounds the wait for a new cluster to accept a replicated
// bucket.
const ReadyTimeout = 90 * time.Second

// DefaultWorkloads is the matrix `make bench-compare` runs.
var DefaultWorkloads = []string{workload.Put, workload.Get, "mixed-a", workload.CAS, workload.Watch, workload.BucketCreate}

// system is one started target.
type system struct {
	kind string
	cl   *cluster.Cluster
	tg   workload.Target
	info report.Target
	err  error // why it cannot run
}

func (c *Config) defaults() {
	if len(c.Workloads) == 0 {
		c.Workloads = DefaultWorkloads
	}
	if len(c.Targets) == 0 {
		c.Targets = []string{target.Cairn, target.NATSServer, target.EtcdServer}
	}
	if c.Nodes == 0 {
		c.Nodes = 3
	}
	if c.CairnNodes == 0 {
		c.CairnNodes = c.Nodes
	}
	if c.CairnBNodes == 0 {
		c.CairnBNodes = c.CairnNodes
	}
	if c.CairnBBin == "" {
		c.CairnBBin = c.CairnBin
	}
	if c.NATSBin == "" {
		c.NATSBin = "nats-server"
	}
	if c.EtcdBin == "" {
		c.EtcdBin = "etcd"
	}
	if c.IdleWindow == 0 {
		c.IdleWindow = 2 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Run runs the comparison. The result is returned (and written) even
// when ctx ends early; then the runs not made are missing and the
// measured ones may be marked interrupted.
func Run(ctx context.Context, cfg Config) (*report.Result, error) {
	cfg.defaults()
	seen := map[string]bool{}
	for _, t := range cfg.Targets {
		if _, err := target.Open(clientKind(t), "x"); err != nil {
			return nil, fmt.Errorf("%w (or %s: a second cairn cluster)", err, CairnB)
		}
		if seen[t] {
			return nil, fmt.Errorf("target %q given twice (use %s for a second cairn cluster)", t, CairnB)
		}
		seen[t] = true
	}
	for _, w := range cfg.Workloads {
		probe := cfg.Run
		probe.Workload = w
		if err := probe.ApplyDefaults(); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(cfg.OutDir, 0o755); err != nil {
		return nil, err
	}
	if cfg.WorkDir == "" {
		dir, err := os.MkdirTemp("", "cairn-bench-")
		if err != nil {
			return nil, err
		}
		cfg.WorkDir = dir
	}
	res := &report.Result{
		Schema:  report.SchemaVersion,
		Started: time.Now().UTC(),
		Command: cfg.Command,
		Host:    report.Host{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH, Harness: cfg.Harness},
	}
	var systems []*system
	defer func() {
		for _, s := range systems {
			s.stop(cfg.Logger)
		}
		if !cfg.KeepData {
			_ = os.RemoveAll(cfg.WorkDir)
		}
	}()
	for _, kind := range cfg.Targets {
		if ctx.Err() != nil {
			break
		}
		s := startSystem(ctx, &cfg, kind)
		systems = append(systems, s)
		res.Targets = append(res.Targets, s.info)
	}
	// Idle CPU after every cluster is up, so each is measured with the
	// others idle beside it, as during the runs.
	for i, s := range systems {
		if s.err == nil && ctx.Err() == nil {
			if pct, ok := idleCPU(ctx, s.cl, cfg.IdleWindow); ok {
				res.Targets[i].IdleCPU = &pct
			}
		}
	}
	res.Notes = notes(&cfg, systems)
	runMatrix(ctx, &cfg, systems, res)
	return res, writeAll(cfg.OutDir, res)
}

// runMatrix runs every workload against every target, workload by
// workload, so a workload's figures come from neighbouring minutes; then
// again for every further round, with the targets in reverse order each
// time.
func runMatrix(ctx context.Context, cfg *Config, systems []*system, res *report.Result) {
	order := slices.Clone(systems)
	for round := 1; round <= max(1, cfg.Rounds); round++ {
		for _, wl := range cfg.Workloads {
			for _, s := range order {
				if ctx.Err() != nil {
					return
				}
				run := runOne(ctx, cfg, s, wl)
				if cfg.Rounds > 1 {
					run.Round = round
				}
				res.Runs = append(res.Runs, run)
			}
		}
		slices.Reverse(order)
	}
}

func runOne(ctx context.Context, cfg *Config, s *system, wl string) report.Run {
	rc := cfg.Run
	rc.Workload = wl
	if rc.Bucket.Replicas == 0 {
		rc.Bucket.Replicas = min(s.info.Nodes, 3)
	}
	rc.Logger = cfg.Logger
	if s.err != nil {
		_ = rc.ApplyDefaults()
		return report.Run{Target: s.kind, Workload: rc.DisplayName(), Params: params(rc), Failed: s.err.Error()}
	}
	meter := &cpuMeter{cpuTime: s.cl.CPUTime}
	rc.Progress = func(p workload.Progress) {
		meter.observe(p)
		if cfg.Progress != nil {
			cfg.Progress(p)
		}
	}
	run, err := workload.Run(ctx, s.tg, rc)
	if us, ok := meter.perOp(); ok && err == nil {
		run.ServerCPUPerOpUS = us
	}
	// The target names the kind of client (cairn-b's is cairn's).
	run.Target = s.kind
	if err != nil {
		run.Failed = err.Error()
		if run.Workload == "" {
			run.Workload = wl
		}
	}
	return run
}

// params fills a report's parameters for a run that did not start.
func params(c workload.Config) report.Params {
	return report.Params{Clients: c.Clients, Keyspace: c.Keyspace, KeyDist: string(c.KeyDist), ValueSize: c.ValueSize,
		Replicas: c.Bucket.Replicas, Storage: c.Bucket.Storage, Seed: c.Seed}
}

func startSystem(ctx context.Context, cfg *Config, kind string) *system {
	s := &system{kind: kind}
	spec := cluster.Spec{Kind: clientKind(kind), Name: kind, Nodes: cfg.Nodes, Dir: filepath.Join(cfg.WorkDir, kind), NATSSyncAlways: cfg.NATSSyncAlways}
	switch kind {
	case target.Cairn, CairnB:
		spec.Bin, spec.Nodes = cfg.CairnBin, cfg.CairnNodes
		if kind == CairnB {
			spec.Bin, spec.Nodes = cfg.CairnBBin, cfg.CairnBNodes
		}
		if cfg.ProfileEnv != "" {
			spec.NodeEnv = func(n cluster.Node) []string {
				return []string{cfg.ProfileEnv + "=" + profilePath(cfg.OutDir, n.Name)}
			}
		}
	case target.NATSServer:
		spec.Bin = cfg.NATSBin
	case target.EtcdServer:
		spec.Bin = cfg.EtcdBin
	}
	s.info = report.Target{Name: kind, Nodes: spec.Nodes}
	if cfg.Progress != nil {
		cfg.Progress(workload.Progress{Target: kind, Workload: fmt.Sprintf("%d-node cluster", spec.Nodes), Phase: "setup"})
	}
	cl, err := cluster.Start(ctx, spec)
	if err != nil {
		s.err = fmt.Errorf("starting %s: %w", kind, err)
		s.info.Notes = "did not start: " + firstLine(err.Error())
		return s
	}
	s.cl = cl
	s.info.Version = cl.Version
	s.info.URLs = cl.URLs()
	tg, err := target.Open(clientKind(kind), cl.URLs())
	if err != nil {
		s.err = err
		return s
	}
	s.tg = tg
	replicas := cfg.Run.Bucket.Replicas
	if replicas == 0 {
		replicas = min(spec.Nodes, 3)
	}
	if err := waitReady(ctx, clientKind(kind), cl, tg, replicas, cfg.Run.Bucket.Storage); err != nil {
		s.err = fmt.Errorf("%s cluster not ready: %w", kind, err)
		s.info.Notes = firstLine(s.err.Error())
		return s
	}
	s.info.Notes = targetNote(cfg, kind)
	if clientKind(kind) == target.Cairn {
		switch placed, ok := cairnPlacement(ctx, cl, probeBucket); {
		case !ok:
			s.info.Notes += "; replica placement not verified (no /v1/cluster)"
		case placed < replicas:
			s.info.Notes += fmt.Sprintf("; WARNING: a bucket created with %d replicas was placed on %d node(s)", replicas, placed)
		default:
			s.info.Notes += fmt.Sprintf("; verified: buckets are placed on %d nodes", placed)
		}
		if cfg.ProfileEnv != "" {
			s.info.Notes += fmt.Sprintf("; CPU profiles of each node's whole run: cpu-%s1.pprof ...", kind)
		}
	}
	_ = tg.Teardown(ctx, workload.Bucket{Name: probeBucket})
	return s
}

func (s *system) stop(lg *slog.Logger) {
	closeTarget(s.tg)
	if s.cl != nil {
		if err := s.cl.Stop(); err != nil {
			lg.Warn("stopping cluster", "target", s.kind, "err", err)
		}
	}
}

const probeBucket = "cairnbench-probe"

// profilePath is where a node writes its CPU profile.
func profilePath(dir, node string) string {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	return filepath.Join(dir, "cpu-"+node+".pprof")
}

// waitReady retries until the cluster accepts a replicated bucket and
// every node serves it (a new cluster elects its leaders first, and nodes
// that did not form one would each serve only their own buckets).
func waitReady(ctx context.Context, kind string, cl *cluster.Cluster, tg workload.Target, replicas int, storage string) error {
	if storage == "" {
		storage = "file"
	}
	b := workload.Bucket{Name: probeBucket, Replicas: replicas, Storage: storage, History: 1}
	deadline := time.Now().Add(ReadyTimeout)
	created := false
	var err error
	for time.Now().Before(deadline) {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if !created {
			err = tg.Setup(cctx, b)
			created = err == nil
		}
		if created {
			err = everyNodeServes(cctx, kind, cl, b)
		}
		cancel()
		if created && err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	return fmt.Errorf("no replicated bucket served by every node within %s: %w", ReadyTimeout, err)
}

// everyNodeServes writes to b through each node on its own.
func everyNodeServes(ctx context.Context, kind string, cl *cluster.Cluster, b workload.Bucket) error {
	for i, n := range cl.Nodes {
		url := strings.Split(cl.URLs(), ",")[i]
		tg, err := target.Open(kind, url)
		if err != nil {
			return err
		}
		err = func() error {
			defer closeTarget(tg)
			c, err := tg.Connect(ctx, b)
			if err != nil {
				return err
			}
			defer c.Close()
			_, err = c.Put(ctx, "probe", []byte(n.Name))
			return err
		}()
		if err != nil {
			return fmt.Errorf("%s does not serve the bucket: %w", n.Name, err)
		}
	}
	return nil
}

func closeTarget(tg workload.Target) {
	if c, ok := tg.(target.Closer); ok {
		_ = c.Close()
	}
}

// idleCPU is the cluster's CPU use while idle, in percent of one core.
func idleCPU(ctx context.Context, c *cluster.Cluster, window time.Duration) (float64, bool) {
	before := c.CPUTime()
	start := time.Now()
	select {
	case <-ctx.Done():
		return 0, false
	case <-time.After(window):
	}
	return 100 * (c.CPUTime() - before).Seconds() / time.Since(start).Seconds(), true
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// writeAll writes the result files.
func writeAll(dir string, res *report.Result) error {
	var errs []error
	for _, f := range []struct {
		name  string
		write func(*os.File) error
	}{
		{"results.json", func(f *os.File) error { return report.WriteJSON(f, res) }},
		{"results.md", func(f *os.File) error { return report.WriteMarkdown(f, res) }},
		{"report.html", func(f *os.File) error { return report.WriteHTML(f, res) }},
	} {
		path := filepath.Join(dir, f.name)
		file, err := os.Create(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := f.write(file); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", path, err))
		}
		if err := file.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
