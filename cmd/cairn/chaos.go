package main

// `cairn chaos`: the fault-injection suite. The harness lives in chaos/;
// this file only binds flags to chaos.Config and prints the report.

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/cairnkv/cairn/chaos"
	"github.com/cairnkv/cairn/chaos/nemesis"
	"github.com/cairnkv/cairn/chaos/netfault"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

func init() { registerCommand(newChaosCmd) }

func newChaosCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "chaos",
		Short: "Inject faults into a cluster under load and check what clients saw (Jepsen-style)",
		Long: `cairn chaos runs a chaos test: it starts a local cluster of cairn (or
nats-server) nodes, drives client load through nats.go, injects faults,
heals, and checks linearizability, lost writes, watches and revisions.
See docs/chaos.md.`,
	}
	cmd.AddCommand(newChaosRunCmd(), newChaosNemesesCmd(), newChaosCleanupCmd())
	return cmd
}

type chaosFlags struct {
	cfg       chaos.Config
	servers   []string
	nemeses   []string
	workloads []string
	diskSize  string
	logLevel  string
	tls       bool
}

func newChaosRunCmd() *cobra.Command {
	f := &chaosFlags{cfg: chaos.DefaultConfig()}
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run a chaos test; exit status 1 if any anomaly is found",
		Long: `Start --nodes server processes on this machine (each with its own data
directory, in its own network namespace when network faults are asked
for), create the buckets chaos-reg and chaos-set, drive the workloads for
--duration while injecting the nemeses, heal, write a final tombstone,
read every bucket's history through every node, and check:

  register  get/put/cas on a few keys: linearizable (porcupine; the
            visualization is saved as DIR/register.html on failure)
  set       unique writes: every acknowledged one readable at the end,
            on every node
  watch     watchers in revision order, no gaps for their filter, no
            duplicates, consistent with the final history, resumed
            across node failures
  revisions strictly increasing and gap-free per bucket, the same on
            every node, in real-time order

A summary line is printed every few seconds; the report is printed at
the end and saved as DIR/report.json. The exit status is 1 if any
anomaly was found (or the run could not be carried out), 0 otherwise.

Nemeses (--nemesis, comma-separated, or "all"): see "cairn chaos nemeses".
Network faults and the full disk need root; with "all" the ones this
machine cannot run are skipped and listed, named ones are refused.

With --servers the workloads and checkers run against a cluster that is
already running (docker compose, ...): nothing is started and no fault
is injected by the harness; kill and pause nodes yourself meanwhile.`,
		Example: `  cairn chaos run                                     # 3 nodes, 1 minute, every nemesis
  cairn chaos run --nodes 5 --duration 10m --nemesis all
  cairn chaos run --nemesis kill,partition-halves --workload register,watch
  cairn chaos run --target nats --bin /tmp/nats-server --duration 3m
  cairn chaos run --servers nats://h1:4222,nats://h2:4222,nats://h3:4222 --duration 5m`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return f.run(cmd) },
	}
	fs := cmd.Flags()
	c := &f.cfg
	fs.StringVar(&c.Target, "target", c.Target, "cluster to start: cairn or nats (nats-server)")
	fs.StringSliceVar(&f.servers, "servers", nil, "client `URL`s of a running cluster to test instead (no faults injected)")
	fs.StringVar(&c.ServersCA, "servers-ca", "", "with --servers: PEM `FILE` of the CA that signed the servers' TLS certificates (credentials go in the URLs: nats://TOKEN@host:4222)")
	fs.StringVar(&c.Bin, "bin", "", "server `BINARY` (default: this cairn binary, or nats-server on PATH for --target nats)")
	fs.IntVar(&c.Nodes, "nodes", c.Nodes, "number of nodes `N`")
	fs.DurationVar(&c.Duration, "duration", c.Duration, "how long the load and the faults run")
	fs.StringSliceVar(&f.nemeses, "nemesis", c.Nemeses, "faults to inject, comma-separated: all, none, or names from `cairn chaos nemeses`")
	fs.StringSliceVar(&f.workloads, "workload", c.Workloads, "workloads: register, set, watch")
	fs.IntVar(&c.Replicas, "replicas", c.Replicas, "replicas of the register bucket (chaos-reg): 1, 3 or 5")
	fs.IntVar(&c.SetReplicas, "set-replicas", 0, "replicas of the set bucket (chaos-set): 1, 3 or 5 (0: as --replicas)")
	fs.IntVar(&c.Clients, "clients", c.Clients, "register clients (one connection each, spread over the nodes; keep ≤ 8 so porcupine stays fast)")
	fs.IntVar(&c.SetClients, "set-clients", c.SetClients, "set clients")
	fs.IntVar(&c.Watchers, "watchers", c.Watchers, "watchers: one on every key, the others on one key slot each")
	fs.Float64Var(&c.Rate, "rate", c.Rate, "operations per second of each client (0: as fast as it can)")
	fs.IntVar(&c.Slots, "keys", c.Slots, "register keys in use at once")
	fs.IntVar(&c.PerKey, "writes-per-key", c.PerKey, "writes a register key takes before the clients move to a fresh one (≤ 60)")
	fs.DurationVar(&c.OpTimeout, "op-timeout", c.OpTimeout, "bound on one operation; a write that times out has an unknown outcome")
	fs.DurationVar(&c.Interval, "interval", c.Interval, "quiet time before each fault (drawn between half and 1.5 times this)")
	fs.DurationVar(&c.Hold, "hold", c.Hold, "how long each fault lasts (drawn between half and 1.5 times this)")
	fs.DurationVar(&c.RecoverTimeout, "recover-timeout", c.RecoverTimeout, "how long the cluster may take to be healthy after a fault heals")
	fs.DurationVar(&c.CheckTimeout, "check-timeout", c.CheckTimeout, "time limit of the linearizability check (running out is an anomaly)")
	fs.StringVar(&c.Dir, "dir", "", "`DIR` for the nodes' data and logs and the report (default chaos-results/TIME)")
	fs.StringVar(&f.diskSize, "disk-size", "512MiB", "size of each node's tmpfs when the disk nemesis runs")
	fs.BoolVar(&c.NATSSyncAlways, "nats-sync-always", false, "nats-server: fsync before acknowledging (sync_interval: always); its default syncs every 2 minutes")
	fs.BoolVar(&f.tls, "tls", true, "cairn: put the nodes' client and HTTP ports behind TLS with a throwaway CA made for the run (--tls=false: plaintext)")
	fs.StringArrayVar(&c.NodeEnv, "node-env", nil, "`KEY=VALUE` in every node's environment, e.g. CAIRN_ELECTION_TIMEOUT=2s (repeatable)")
	fs.Uint64Var(&c.Seed, "seed", 0, "random seed of the workloads and the nemesis (0: from the clock; the report shows it)")
	fs.DurationVar(&c.SummaryEvery, "summary-every", c.SummaryEvery, "how often to print the live summary (0: never)")
	fs.StringVar(&f.logLevel, "log-level", "warn", "harness log level on stderr: debug, info, warn or error")
	return cmd
}

func (f *chaosFlags) run(cmd *cobra.Command) error {
	c := &f.cfg
	c.Servers, c.Nemeses, c.Workloads = f.servers, f.nemeses, f.workloads
	c.NoTLS = !f.tls
	if len(f.servers) > 0 && !cmd.Flags().Changed("nemesis") {
		c.Nemeses = nil
	}
	size, err := parseSize(f.diskSize) // kv_bucket.go
	if err != nil || size <= 0 {
		return fmt.Errorf("--disk-size %q: give a size such as 512MiB", f.diskSize)
	}
	c.DiskSize = size
	lg, err := newLogger(cmd.ErrOrStderr(), logConfig{Level: f.logLevel, Format: "text"})
	if err != nil {
		return err
	}
	c.Logger, c.Out = lg, cmd.OutOrStdout()
	if len(c.Servers) == 0 {
		if err := f.findBinary(); err != nil {
			return err
		}
		if c.Dir == "" {
			c.Dir = filepath.Join("chaos-results", time.Now().UTC().Format("20060102T150405Z"))
		}
	}
	if c.Dir != "" {
		if c.Dir, err = filepath.Abs(c.Dir); err != nil {
			return err
		}
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Say so at once when interrupted. The goroutine is waited for, so it
	// never writes after the command returned, and a run that finished
	// (finished is closed before stop cancels ctx) says nothing.
	finished, announced := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(announced)
		select {
		case <-ctx.Done():
			select {
			case <-finished:
			default:
				fmt.Fprintln(cmd.ErrOrStderr(), "cairn chaos: interrupted: healing, checking what was recorded and cleaning up")
			}
		case <-finished:
		}
	}()
	defer func() {
		close(finished)
		<-announced
	}()
	fmt.Fprintf(c.Out, "cairn chaos: %s for %s; data, logs and report in %s\n", f.describeTarget(), c.Duration, orDash(c.Dir))
	rep, err := chaos.Run(ctx, *c)
	if err != nil {
		return err
	}
	rep.Print(c.Out)
	if c.Dir != "" {
		path := filepath.Join(c.Dir, "report.json")
		if err := rep.WriteJSON(path); err != nil {
			return err
		}
		fmt.Fprintf(c.Out, "report: %s\n", path)
	}
	if !rep.Valid {
		return fmt.Errorf("%d anomalies found", rep.AnomalyTotal())
	}
	return nil
}

func (f *chaosFlags) describeTarget() string {
	c := &f.cfg
	if len(c.Servers) > 0 {
		return "existing cluster " + strings.Join(chaos.RedactedServers(c.Servers), ",")
	}
	return fmt.Sprintf("%d %s nodes, nemeses %s", c.Nodes, c.Target, strings.Join(c.Nemeses, ","))
}

// findBinary fills in --bin: this cairn binary, or nats-server on PATH.
func (f *chaosFlags) findBinary() error {
	c := &f.cfg
	if c.Bin != "" {
		return nil
	}
	switch c.Target {
	case "cairn":
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("finding the cairn binary to run the nodes: %w", err)
		}
		c.Bin = exe
	case "nats":
		p, err := exec.LookPath("nats-server")
		if err != nil {
			return errors.New("--target nats: nats-server is not on PATH; give --bin (build it: go build -o /tmp/nats-server github.com/nats-io/nats-server/v2)")
		}
		c.Bin = p
	}
	return nil
}

func newChaosNemesesCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "nemeses",
		Short: "List the faults cairn chaos can inject",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			for _, n := range nemesis.Names() {
				fmt.Fprintf(tw, "%s\t%s\n", n[0], n[1])
			}
			return tw.Flush()
		},
	}
}

func newChaosCleanupCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "cleanup",
		Short: "Remove what a chaos run killed mid-way left behind (network namespaces, tmpfs mounts)",
		Long: `A chaos run removes its network namespaces (and with them every iptables
rule and tc queue it set) and unmounts its tmpfs disks when it ends, also
on Ctrl-C. A run that was killed (SIGKILL) cannot: this removes the
namespaces named cairn-chaos-* whose run is no longer alive and, with
--dir, unmounts the tmpfs disks under that run directory. It touches
nothing else.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			gone, err := netfault.CleanupStale()
			for _, g := range gone {
				fmt.Fprintf(cmd.OutOrStdout(), "removed network namespace %s\n", g)
			}
			if dir != "" {
				um, uerr := unmountUnder(dir)
				for _, m := range um {
					fmt.Fprintf(cmd.OutOrStdout(), "unmounted %s\n", m)
				}
				err = errors.Join(err, uerr)
			}
			return err
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "run `DIR` whose tmpfs disks to unmount")
	return cmd
}

// unmountUnder unmounts the tmpfs mounts below dir.
func unmountUnder(dir string) ([]string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return nil, err
	}
	var done []string
	var errs []error
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || f[2] != "tmpfs" || !strings.HasPrefix(f[1], abs+"/") {
			continue
		}
		if err := unix.Unmount(f[1], unix.MNT_DETACH); err != nil {
			errs = append(errs, fmt.Errorf("unmounting %s: %w", f[1], err))
			continue
		}
		done = append(done, f[1])
	}
	return done, errors.Join(errs...)
}
