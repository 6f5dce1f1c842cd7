package main

// `cairn bench`: drive load at cairn, nats-server or etcd (one workload
// per subcommand) and `cairn bench compare`, which starts local clusters
// of all three and compares them. The harness lives in bench/; this file
// only binds flags to it.

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cairnkv/cairn/bench/compare"
	"github.com/cairnkv/cairn/bench/dist"
	"github.com/cairnkv/cairn/bench/report"
	benchtarget "github.com/cairnkv/cairn/bench/target"
	"github.com/cairnkv/cairn/bench/workload"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func init() {
	registerCommand(newBenchCmd)
}

// envCPUProfile, if set, makes a cairn process write a CPU profile to
// the file it names from start until the process exits on its own (main
// stops the profile after the command returns, so a node stopped with
// SIGINT or SIGTERM writes a complete profile). `bench compare --profile`
// sets it for the cairn nodes it starts, since nodes do not serve
// /debug/pprof.
const envCPUProfile = envPrefix + "_BENCH_CPUPROFILE"

// startEnvCPUProfile starts the profile envCPUProfile asks for and
// returns what stops and writes it.
func startEnvCPUProfile() (stop func()) {
	path := os.Getenv(envCPUProfile)
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "cairn: %s: %v\n", envCPUProfile, err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintf(os.Stderr, "cairn: %s: %v\n", envCPUProfile, err)
		f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "cairn: %s: %v\n", envCPUProfile, err)
		}
	}
}

// benchFlags are the options every bench subcommand shares.
type benchFlags struct {
	clients   int
	inFlight  int
	duration  time.Duration
	ops       int64
	rate      float64
	warmup    time.Duration
	keyspace  int
	keyDist   string
	scrambled bool
	valueSize string
	replicas  int
	storage   string
	history   int
	seed      uint64
	bucket    string
	keep      bool
	mix       string
	hotKeys   int
	watchers  int
	opTimeout time.Duration
	json      bool
	out       string
	progress  bool
	creds     credentials
}

func (f *benchFlags) add(fs *pflag.FlagSet) {
	f.creds.addFlags(fs)
	fs.IntVarP(&f.clients, "clients", "c", workload.DefaultClients, "concurrent clients, each with its own connection and one request in flight (see --in-flight)")
	fs.IntVar(&f.inFlight, "in-flight", 1, "requests each client keeps in flight on its connection, `N` at once (as an asynchronous publisher)")
	fs.DurationVarP(&f.duration, "duration", "d", workload.DefaultDuration, "how long to measure, after the warm-up (0 with --ops: until the ops are done)")
	fs.Int64VarP(&f.ops, "ops", "n", 0, "stop after this many measured operations (0: no limit)")
	fs.Float64Var(&f.rate, "rate", 0, "target total `OPS/S`, open loop: latency counts from each operation's intended start (0: closed loop)")
	fs.DurationVar(&f.warmup, "warmup", time.Second, "run this long before measuring")
	fs.IntVar(&f.keyspace, "keyspace", 0, "number of keys (0: the workload's default)")
	fs.StringVar(&f.keyDist, "dist", "", "key choice: uniform, zipfian or latest (default: the workload's)")
	fs.BoolVar(&f.scrambled, "scrambled", true, "spread zipfian's hot keys over the key space (YCSB's scrambled zipfian)")
	fs.StringVar(&f.valueSize, "value-size", "", "value size in bytes, fixed (128, 4KiB) or uniform (64-1024) (default: the workload's)")
	fs.IntVar(&f.replicas, "replicas", 0, "bucket replicas (0: 1 for a single run, min(nodes, 3) in compare)")
	fs.StringVar(&f.storage, "storage", "file", "bucket storage: file or memory")
	fs.IntVar(&f.history, "history", 0, "revisions kept per key (0: the workload's default)")
	fs.Uint64Var(&f.seed, "seed", 1, "random seed: the same seed repeats each client's keys and values")
	fs.StringVar(&f.bucket, "bucket", workload.DefaultBucket, "bucket (or etcd key prefix) to work in; it is emptied first")
	fs.BoolVar(&f.keep, "keep", false, "leave the bucket in place afterwards")
	fs.StringVar(&f.mix, "mix", "a", "YCSB core workload for mixed: a (50/50 read/update), b (95/5), c (read only), d (read latest), e (scans), f (read-modify-write)")
	fs.IntVar(&f.hotKeys, "hot-keys", 0, "hot keys the cas workload contends on (default 8)")
	fs.IntVar(&f.watchers, "watchers", 0, "watchers of the watch workload, each on its own connection (default 16)")
	fs.DurationVar(&f.opTimeout, "op-timeout", workload.DefaultOpTimeout, "bound on each single operation")
	fs.BoolVar(&f.json, "json", false, "print the results as JSON for scripts")
	fs.StringVarP(&f.out, "out", "o", "", "also write the results as JSON to `FILE`")
	fs.BoolVar(&f.progress, "progress", true, "show a live progress line on stderr (--progress=false for the quietest runs)")
}

// config is the run template the flags describe.
func (f *benchFlags) config(name string) (workload.Config, error) {
	c := workload.Config{
		Workload:  name,
		Clients:   f.clients,
		InFlight:  f.inFlight,
		Duration:  f.duration,
		Ops:       f.ops,
		Rate:      f.rate,
		Warmup:    f.warmup,
		Keyspace:  f.keyspace,
		Scrambled: f.scrambled,
		ValueSize: f.valueSize,
		Bucket:    workload.Bucket{Name: f.bucket, Replicas: f.replicas, Storage: f.storage, History: f.history},
		Seed:      f.seed,
		Mix:       f.mix,
		Watchers:  f.watchers,
		OpTimeout: f.opTimeout,
		Keep:      f.keep,
	}
	if f.keyDist != "" {
		k, err := dist.ParseKind(f.keyDist)
		if err != nil {
			return c, err
		}
		c.KeyDist = k
	}
	if name == workload.CAS && f.hotKeys > 0 {
		c.Keyspace = f.hotKeys
	}
	if f.clients < 1 {
		return c, fmt.Errorf("--clients must be at least 1")
	}
	return c, nil
}

func newBenchCmd() *cobra.Command {
	f := &benchFlags{}
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Drive load at cairn, nats-server or etcd and report throughput and latency",
		Long: `Drive load at a running cluster with one workload and report throughput, latency
percentiles (HDR histograms) and errors by kind, or start local clusters of
cairn, nats-server and etcd and compare them (bench compare).

cairn and nats-server are driven through the same nats.go jetstream KeyValue
code; etcd through its own client. A live progress line goes to stderr;
Ctrl-C stops the run and prints what was measured so far. Runs are
repeatable: every client draws its keys and values from --seed.

See docs/bench.md for the workloads, the options and how to read the report.`,
		Example: `  cairn bench put -s nats://127.0.0.1:4222 --clients 64 --duration 30s
  cairn bench get --target nats -s nats://127.0.0.1:4222 --keyspace 100000
  cairn bench mixed --mix b --dist zipfian --rate 20000 --duration 1m
  cairn bench put --target etcd -s http://127.0.0.1:2379 --json
  cairn bench compare --cairn-nodes 1 --duration 10s`,
	}
	f.add(cmd.PersistentFlags())
	for _, name := range workload.Names {
		cmd.AddCommand(newBenchWorkloadCmd(f, name))
	}
	cmd.AddCommand(newBenchCompareCmd(f))
	return cmd
}

// benchContext ends at the first SIGINT or SIGTERM; a second one kills
// the process (local clusters die with it).
func benchContext(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	return ctx, stop
}

func newBenchWorkloadCmd(f *benchFlags, name string) *cobra.Command {
	var kind, server string
	cmd := &cobra.Command{
		Use:   name,
		Short: workload.Description[name],
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.config(name)
			if err != nil {
				return err
			}
			urls := server
			if urls == "" && kind != benchtarget.EtcdServer {
				urls = strings.TrimSpace(os.Getenv(envServer))
			}
			tg, err := benchtarget.Open(kind, urls, f.creds.natsOptions()...)
			if err != nil {
				return err
			}
			defer closeTarget(tg)
			ctx, stop := benchContext(cmd.Context())
			defer stop()
			pp := newProgressPrinter(cmd.ErrOrStderr(), f.progress)
			cfg.Progress = pp.print
			started := time.Now().UTC()
			run, err := workload.Run(ctx, tg, cfg)
			pp.clear()
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			res := &report.Result{
				Schema:  report.SchemaVersion,
				Started: started,
				Command: commandLine(cmd),
				Host:    benchHost(),
				Targets: []report.Target{describeTarget(ctx, tg, urls)},
				Runs:    []report.Run{run},
			}
			if err := writeBenchResult(cmd.OutOrStdout(), f, res, report.WriteText); err != nil {
				return err
			}
			if run.Interrupted {
				return fmt.Errorf("interrupted: the results above cover what was measured before the signal")
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&kind, "target", benchtarget.Cairn, "what the servers are: cairn, nats or etcd")
	cmd.Flags().StringVarP(&server, "server", "s", "",
		"server `URL[,URL]` (default nats://127.0.0.1:4222, or $"+envServer+"; etcd: http://127.0.0.1:2379)")
	return cmd
}

func closeTarget(tg workload.Target) {
	if c, ok := tg.(benchtarget.Closer); ok {
		_ = c.Close()
	}
}

// describeTarget names the target and the version it reports.
func describeTarget(ctx context.Context, tg workload.Target, urls string) report.Target {
	t := report.Target{Name: tg.Name(), URLs: benchtarget.RedactURLs(urls)}
	vctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	switch v := tg.(type) {
	case *benchtarget.NATS:
		if tg.Name() == benchtarget.Cairn {
			t.Notes = "announces NATS server version " + v.ServerVersion()
		} else {
			t.Version = v.ServerVersion()
		}
	case *benchtarget.Etcd:
		t.Version = v.ServerVersion(vctx)
	}
	return t
}

func benchHost() report.Host {
	return report.Host{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH, Harness: buildVersion().Version}
}

// commandLine is the command with the flags that were set, enough to
// repeat the run.
func commandLine(cmd *cobra.Command) string {
	parts := []string{cmd.CommandPath()}
	cmd.Flags().Visit(func(fl *pflag.Flag) {
		v := fl.Value.String()
		if sv, ok := fl.Value.(pflag.SliceValue); ok {
			v = strings.Join(sv.GetSlice(), ",")
		}
		parts = append(parts, "--"+fl.Name+"="+v)
	})
	return strings.Join(parts, " ")
}

// writeBenchResult prints res (JSON with --json, else with human) and
// writes it to --out.
func writeBenchResult(w io.Writer, f *benchFlags, res *report.Result, human func(io.Writer, *report.Result) error) error {
	var err error
	if f.json {
		err = report.WriteJSON(w, res)
	} else {
		err = human(w, res)
	}
	if err != nil {
		return err
	}
	if f.out == "" {
		return nil
	}
	file, err := os.Create(f.out)
	if err != nil {
		return fmt.Errorf("writing results: %w", err)
	}
	if err := report.WriteJSON(file, res); err != nil {
		file.Close()
		return err
	}
	return file.Close()
}

func newBenchCompareCmd(f *benchFlags) *cobra.Command {
	var (
		workloads, targets         []string
		nodes, cairnNodes, rounds  int
		cairnBNodes                int
		cairnBin, natsBin, etcdBin string
		cairnBBin                  string
		outDir, workDir            string
		keepData, syncAlways, prof bool
		idle                       time.Duration
	)
	cmd := &cobra.Command{
		Use:   "compare",
		Short: "Start local cairn, nats-server and etcd clusters and compare them",
		Long: `Start a cluster of each target on loopback (3 nodes by default), check that
it serves replicated buckets, run every workload against every target in
turn, stop the clusters and write results.json, results.md and report.html
(self-contained, with throughput and latency-percentile charts) to --out-dir.
The Markdown table is printed on stdout.

nats-server and etcd come from --nats-bin and --etcd-bin (PATH by default);
cairn nodes are this binary unless --cairn-bin says otherwise. Ratios are
the first target's figure over each other's.

On a shared or virtual machine one run of a workload can differ from the
next by half; --rounds N runs the whole matrix N times (the targets in
reverse order every other round) and reports each target's median round
and, for each ratio, the median of the round-by-round ratios and their
range.

The target cairn-b is a second cairn cluster: another build
(--cairn-b-bin) or another size (--cairn-b-nodes), e.g. three nodes with
R3 buckets against one node with R1 ones.`,
		Example: `  cairn bench compare --duration 10s --clients 64
  cairn bench compare --targets cairn,nats --workloads put,get --rounds 5
  cairn bench compare --targets cairn,cairn-b --cairn-b-bin ./cairn-old --workloads put --rounds 5
  cairn bench compare --targets cairn,cairn-b --cairn-b-nodes 1 --workloads put --rounds 5
  cairn bench compare --cairn-nodes 1 --workloads put,get --nats-bin /tmp/nats-server
  cairn bench compare --targets cairn,nats --rate 5000 --workloads put,mixed-b`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tmpl, err := f.config("")
			if err != nil {
				return err
			}
			if rounds < 1 {
				return fmt.Errorf("--rounds %d: need at least 1", rounds)
			}
			if cairnBin == "" {
				if cairnBin, err = os.Executable(); err != nil {
					return fmt.Errorf("finding this binary for the cairn nodes: %w (give --cairn-bin)", err)
				}
			}
			if outDir == "" {
				outDir = filepath.Join("bench-results", "compare-"+time.Now().UTC().Format("20060102T150405Z"))
			}
			ctx, stop := benchContext(cmd.Context())
			defer stop()
			pp := newProgressPrinter(cmd.ErrOrStderr(), f.progress)
			res, err := compare.Run(ctx, compare.Config{
				Workloads: workloads, Targets: targets, Nodes: nodes, CairnNodes: cairnNodes,
				CairnBin: cairnBin, NATSBin: natsBin, EtcdBin: etcdBin,
				CairnBBin: cairnBBin, CairnBNodes: cairnBNodes,
				WorkDir: workDir, KeepData: keepData, OutDir: outDir,
				Run: tmpl, NATSSyncAlways: syncAlways, IdleWindow: idle, Rounds: rounds, ProfileEnv: profileEnv(prof),
				Command: commandLine(cmd), Harness: buildVersion().Version,
				Progress: pp.print,
			})
			pp.clear()
			if err != nil && res == nil {
				return err
			}
			if werr := writeBenchResult(cmd.OutOrStdout(), f, res, report.WriteMarkdown); werr != nil {
				return werr
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "results in %s (results.json, results.md, report.html)\n", outDir)
			if err != nil {
				return err
			}
			if ctx.Err() != nil {
				return fmt.Errorf("interrupted: the results cover the runs made before the signal")
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringSliceVar(&workloads, "workloads", compare.DefaultWorkloads, "workloads to run (mixed-a .. mixed-f for YCSB mixes)")
	fs.StringSliceVar(&targets, "targets", benchtarget.Kinds, "targets to compare; the first is the one ratios are for ("+compare.CairnB+": a second cairn cluster, see --cairn-b-bin and --cairn-b-nodes)")
	fs.IntVar(&nodes, "nodes", 3, "nodes per cluster")
	fs.IntVar(&cairnNodes, "cairn-nodes", 0, "nodes in the cairn cluster (0: --nodes)")
	fs.StringVar(&cairnBin, "cairn-bin", "", "cairn binary for the cairn nodes (default: this binary)")
	fs.StringVar(&cairnBBin, "cairn-b-bin", "", "cairn binary of the "+compare.CairnB+" target's nodes (default: --cairn-bin), to compare two builds")
	fs.IntVar(&cairnBNodes, "cairn-b-nodes", 0, "nodes in the "+compare.CairnB+" cluster (0: --cairn-nodes), to compare two cluster sizes")
	fs.StringVar(&natsBin, "nats-bin", "nats-server", "nats-server binary")
	fs.StringVar(&etcdBin, "etcd-bin", "etcd", "etcd binary")
	fs.StringVar(&outDir, "out-dir", "", "directory for the results (default bench-results/compare-TIME)")
	fs.StringVar(&workDir, "work-dir", "", "directory for the clusters' data and logs (default: a temporary one)")
	fs.BoolVar(&keepData, "keep-data", false, "keep the clusters' data and logs")
	fs.BoolVar(&syncAlways, "nats-sync-always", false, "run nats-server with sync_interval: always (fsync before acknowledging, like cairn and etcd)")
	fs.BoolVar(&prof, "profile", false, "have each cairn node write a CPU profile of its whole run to --out-dir/cpu-NODE.pprof")
	fs.DurationVar(&idle, "idle-window", 2*time.Second, "how long to measure each cluster's idle CPU")
	fs.IntVar(&rounds, "rounds", 1, "run the whole matrix this many times, alternating the targets' order, and report medians and the range of the ratios")
	return cmd
}

func profileEnv(on bool) string {
	if on {
		return envCPUProfile
	}
	return ""
}

// progressPrinter shows workload.Progress on stderr: rewritten in place
// on a terminal, otherwise a line on every phase change and every
// nonTTYEvery.
type progressPrinter struct {
	mu      sync.Mutex
	w       io.Writer
	on, tty bool
	shown   bool
	last    time.Time
	phase   string
}

const nonTTYEvery = 5 * time.Second

func newProgressPrinter(w io.Writer, on bool) *progressPrinter {
	tty := false
	if f, ok := w.(*os.File); ok {
		st, err := f.Stat()
		tty = err == nil && st.Mode()&os.ModeCharDevice != 0
	}
	return &progressPrinter{w: w, on: on, tty: tty}
}

func (p *progressPrinter) print(pr workload.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.on {
		return
	}
	line := pr.String()
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
		p.shown = true
		return
	}
	key := pr.Target + pr.Workload + pr.Phase
	if key != p.phase || time.Since(p.last) >= nonTTYEvery {
		fmt.Fprintln(p.w, line)
		p.phase, p.last = key, time.Now()
	}
}

// clear removes the progress line before results are printed.
func (p *progressPrinter) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && p.shown {
		fmt.Fprint(p.w, "\r\033[K")
		p.shown = false
	}
}
