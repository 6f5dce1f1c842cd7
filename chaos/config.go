package chaos

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"
)

// Workloads.
const (
	Register = "register"
	SetW     = "set"
	WatchW   = "watch"
)

// Config is one chaos run.
type Config struct {
	// Target is "cairn" or "nats": the kind of cluster to start.
	Target string
	// Servers, if set, are the client URLs of a cluster that is already
	// running: the harness starts nothing and injects no faults.
	Servers []string
	// ServersCA is the PEM file of the CA that signed the Servers'
	// certificates, when they use TLS with a CA that is not a system
	// root. Credentials go in the URLs (nats://TOKEN@host:4222).
	ServersCA string
	// Bin is the server binary (cairn or nats-server).
	Bin   string
	Nodes int
	// Duration is how long the load and the faults run.
	Duration time.Duration
	// Nemeses are fault names, or "all" (see nemesis.Names).
	Nemeses []string
	// Workloads are among register, set and watch.
	Workloads []string
	// Replicas of the register bucket, and of the set bucket
	// (SetReplicas; 0: the same).
	Replicas, SetReplicas int
	// Clients of the register workload (one connection each, spread over
	// the nodes), of the set workload, and watchers.
	Clients, SetClients, Watchers int
	// Rate is each client's operations per second.
	Rate float64
	// Slots are the register keys in use at once; PerKey the writes a key
	// takes before its slot moves to a fresh key.
	Slots, PerKey int
	// OpTimeout bounds one client operation.
	OpTimeout time.Duration
	// Interval is the quiet time before each fault, Hold how long it lasts.
	Interval, Hold time.Duration
	// RecoverTimeout bounds each wait for the cluster to be healthy again.
	RecoverTimeout time.Duration
	// CheckTimeout bounds porcupine.
	CheckTimeout time.Duration
	// Dir holds the nodes' data and logs and the run's report.
	Dir string
	// DiskSize is the tmpfs per node when the disk nemesis runs.
	DiskSize int64
	// NATSSyncAlways makes nats-server fsync before acknowledging.
	NATSSyncAlways bool
	// NodeEnv are extra environment variables for every node.
	NodeEnv []string
	// NoTLS leaves a cairn cluster's client and HTTP ports in plaintext;
	// by default the harness makes a throwaway CA and certificate for
	// each run and the ports use TLS.
	NoTLS bool
	Seed  uint64
	// Out gets the live summary every SummaryEvery, and the report.
	Out          io.Writer
	SummaryEvery time.Duration
	Logger       *slog.Logger
}

// DefaultConfig is a short run on 3 local cairn nodes with every
// nemesis the machine allows.
func DefaultConfig() Config {
	return Config{
		Target: "cairn", Nodes: 3, Duration: time.Minute, Nemeses: []string{"all"},
		Workloads: []string{Register, SetW, WatchW},
		Replicas:  3, Clients: 8, SetClients: 2, Watchers: 3, Rate: 20,
		Slots: 5, PerKey: 48, OpTimeout: 5 * time.Second,
		Interval: 10 * time.Second, Hold: 10 * time.Second,
		RecoverTimeout: 90 * time.Second, CheckTimeout: 5 * time.Minute,
		DiskSize: 512 << 20, SummaryEvery: 5 * time.Second,
	}
}

func (c *Config) has(w string) bool { return slices.Contains(c.Workloads, w) }

// external reports whether the run uses a cluster it did not start.
func (c *Config) external() bool { return len(c.Servers) > 0 }

func (c *Config) validate() error {
	if c.Out == nil {
		c.Out = io.Discard
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	var errs []error
	for _, w := range c.Workloads {
		if w != Register && w != SetW && w != WatchW {
			errs = append(errs, fmt.Errorf("unknown workload %q (known: register, set, watch)", w))
		}
	}
	if len(c.Workloads) == 0 {
		errs = append(errs, errors.New("no workload"))
	}
	if c.has(WatchW) && !c.has(Register) {
		errs = append(errs, errors.New("the watch workload watches the register bucket: add register"))
	}
	if !c.external() {
		if c.Target != "cairn" && c.Target != "nats" {
			errs = append(errs, fmt.Errorf("--target %q: give cairn or nats", c.Target))
		}
		if c.Nodes < 1 || c.Nodes > 9 {
			errs = append(errs, fmt.Errorf("--nodes %d: give 1 to 9", c.Nodes))
		}
		if c.Bin == "" {
			errs = append(errs, errors.New("no server binary"))
		}
		if c.Dir == "" {
			errs = append(errs, errors.New("no work directory"))
		}
	}
	if c.SetReplicas == 0 {
		c.SetReplicas = c.Replicas
	}
	for _, r := range []int{c.Replicas, c.SetReplicas} {
		if r != 1 && r != 3 && r != 5 {
			errs = append(errs, fmt.Errorf("--replicas %d: give 1, 3 or 5", r))
		}
		if !c.external() && r > c.Nodes {
			errs = append(errs, fmt.Errorf("--replicas %d is more than --nodes %d", r, c.Nodes))
		}
	}
	if c.PerKey < 1 || c.PerKey > 60 {
		errs = append(errs, fmt.Errorf("--writes-per-key %d: give 1 to 60 (a key's whole history must stay in the bucket, which keeps 64)", c.PerKey))
	}
	if c.Slots < 1 || c.Clients < 0 || c.SetClients < 0 || c.Watchers < 0 {
		errs = append(errs, errors.New("slots, clients and watchers cannot be negative"))
	}
	if c.Duration <= 0 || c.OpTimeout <= 0 {
		errs = append(errs, errors.New("--duration and --op-timeout must be positive"))
	}
	return errors.Join(errs...)
}
