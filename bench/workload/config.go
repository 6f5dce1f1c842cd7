package workload

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/cairnkv/cairn/bench/dist"
)

// The workloads.
const (
	Put          = "put"
	Get          = "get"
	Mixed        = "mixed"
	CAS          = "cas"
	Watch        = "watch"
	Keys         = "keys"
	History      = "history"
	BucketCreate = "bucket-create"
	Large        = "large"
)

// Names lists the workloads in the order help shows them.
var Names = []string{Put, Get, Mixed, CAS, Watch, Keys, History, BucketCreate, Large}

// Description is one line per workload for help texts.
var Description = map[string]string{
	Put:          "write values over a key space",
	Get:          "read values from a preloaded key space",
	Mixed:        "a YCSB core workload A-F (--mix) over a preloaded key space",
	CAS:          "read then compare-and-set on a few hot keys (--hot-keys)",
	Watch:        "writes observed by --watchers watchers; put-to-delivery latency",
	Keys:         "list every key of a preloaded bucket",
	History:      "read every kept revision of a key",
	BucketCreate: "create buckets (raft groups in cairn) as fast as possible",
	Large:        "half reads, half writes of large values",
}

// Config is one run. Zero fields take the workload's defaults
// (ApplyDefaults).
type Config struct {
	Workload string
	// Clients is the number of concurrent clients, each with its own
	// connection and at most one operation in flight.
	Clients int
	// InFlight is how many operations each client keeps in flight on its
	// connection (1 when zero): that many requesters share it, as an
	// asynchronous publisher pipelines requests over one connection.
	InFlight int
	// Duration bounds the measured phase (after Warmup); Ops bounds the
	// measured operations. The run ends at whichever comes first; with
	// neither, Duration is DefaultDuration.
	Duration time.Duration
	Ops      int64
	// Rate is the target total rate in operations per second: open loop,
	// latency measured from each operation's intended start. 0 runs
	// closed loop (each client sends as soon as its last reply arrived).
	Rate float64
	// Warmup is run but not measured.
	Warmup time.Duration
	// Keyspace is the number of keys (hot keys for cas).
	Keyspace int
	// KeyDist chooses keys; Scrambled spreads zipfian's hot keys.
	KeyDist   dist.Kind
	Scrambled bool
	// ValueSize is a dist.ParseSize string: "128", "1KiB-4KiB".
	ValueSize string
	Bucket    Bucket
	Seed      uint64
	// Mix is the YCSB workload letter for Mixed.
	Mix string
	// Watchers is the number of watchers for Watch, each on its own
	// connection.
	Watchers int
	// OpTimeout bounds every single operation.
	OpTimeout time.Duration
	// Keep leaves the bucket in place after the run.
	Keep bool
	// Progress, if set, is called about every ProgressInterval.
	Progress         func(Progress)
	ProgressInterval time.Duration
	Logger           *slog.Logger
}

// Defaults and bounds.
const (
	DefaultDuration  = 10 * time.Second
	DefaultOpTimeout = 10 * time.Second
	DefaultClients   = 16
	maxInFlight      = 4096
	DefaultBucket    = "cairnbench"
	// MaxDuration bounds a run whatever its options.
	MaxDuration = time.Hour
	// maxHistory is the largest history NATS KV allows.
	maxHistory = 64
)

// defaults are a workload's own defaults.
type defaults struct {
	keyspace  int
	keyDist   dist.Kind
	valueSize string
	history   int
}

var workloadDefaults = map[string]defaults{
	Put:   {10000, dist.Uniform, "128", 1},
	Get:   {10000, dist.Uniform, "128", 1},
	Mixed: {10000, dist.Zipfian, "1KiB", 1},
	CAS:   {8, dist.Uniform, "128", 1},
	// Watch keeps every revision so that KV watchers are not allowed to
	// skip a value overwritten before delivery: every put is owed to
	// every watcher, as with etcd.
	Watch:        {100, dist.Uniform, "128", 64},
	Keys:         {10000, dist.Uniform, "16", 1},
	History:      {100, dist.Uniform, "128", 16},
	BucketCreate: {1, dist.Uniform, "0", 1},
	Large:        {64, dist.Uniform, "256KiB", 1},
}

// Mix is a YCSB core workload: operation proportions and key choice.
type Mix struct {
	Read, Update, Insert, Scan, RMW float64
	Dist                            dist.Kind
}

// Mixes are YCSB's core workloads (brianfrankcooper/YCSB workloads/):
// A update heavy, B read mostly, C read only, D read latest, E short
// ranges, F read-modify-write.
var Mixes = map[string]Mix{
	"a": {Read: 0.5, Update: 0.5, Dist: dist.Zipfian},
	"b": {Read: 0.95, Update: 0.05, Dist: dist.Zipfian},
	"c": {Read: 1, Dist: dist.Zipfian},
	"d": {Read: 0.95, Insert: 0.05, Dist: dist.Latest},
	"e": {Scan: 0.95, Insert: 0.05, Dist: dist.Zipfian},
	"f": {Read: 0.5, RMW: 0.5, Dist: dist.Zipfian},
}

// SplitName accepts "mixed-a" style names and returns ("mixed", "a").
func SplitName(name string) (workload, mix string) {
	if rest, ok := strings.CutPrefix(name, Mixed+"-"); ok {
		return Mixed, rest
	}
	return name, ""
}

// DisplayName is the workload's name in results: "mixed-a" for mixes.
func (c *Config) DisplayName() string {
	if c.Workload == Mixed {
		return Mixed + "-" + c.Mix
	}
	return c.Workload
}

// ApplyDefaults fills zero fields and validates the result.
func (c *Config) ApplyDefaults() error {
	if w, mix := SplitName(c.Workload); mix != "" {
		c.Workload, c.Mix = w, mix
	}
	d, ok := workloadDefaults[c.Workload]
	if !ok {
		return fmt.Errorf("unknown workload %q (have %s)", c.Workload, strings.Join(Names, ", "))
	}
	if c.Workload == Mixed {
		c.Mix = strings.ToLower(c.Mix)
		if c.Mix == "" {
			c.Mix = "a"
		}
		m, ok := Mixes[c.Mix]
		if !ok {
			return fmt.Errorf("unknown YCSB mix %q (have a-f)", c.Mix)
		}
		d.keyDist = m.Dist
	}
	if c.Clients == 0 {
		c.Clients = DefaultClients
	}
	if c.InFlight == 0 {
		c.InFlight = 1
	}
	if c.Duration == 0 && c.Ops == 0 {
		c.Duration = DefaultDuration
	}
	if c.Keyspace == 0 {
		c.Keyspace = d.keyspace
	}
	if c.KeyDist == "" {
		c.KeyDist = d.keyDist
	}
	if c.ValueSize == "" {
		c.ValueSize = d.valueSize
	}
	if c.Bucket.Name == "" {
		c.Bucket.Name = DefaultBucket
	}
	if c.Bucket.Replicas == 0 {
		c.Bucket.Replicas = 1
	}
	if c.Bucket.Storage == "" {
		c.Bucket.Storage = "file"
	}
	if c.Bucket.History == 0 {
		c.Bucket.History = d.history
	}
	if c.Workload == Watch && c.Watchers == 0 {
		c.Watchers = 16
	}
	if c.OpTimeout == 0 {
		c.OpTimeout = DefaultOpTimeout
	}
	if c.ProgressInterval == 0 {
		c.ProgressInterval = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c.validate()
}

func (c *Config) validate() error {
	switch {
	case c.Clients < 1:
		return fmt.Errorf("clients must be at least 1, got %d", c.Clients)
	case c.InFlight < 1 || c.InFlight > maxInFlight:
		return fmt.Errorf("in-flight must be 1-%d, got %d", maxInFlight, c.InFlight)
	case c.Duration < 0 || c.Ops < 0 || c.Warmup < 0 || c.Rate < 0:
		return fmt.Errorf("duration, ops, warmup and rate must not be negative")
	case c.Duration+c.Warmup > MaxDuration:
		return fmt.Errorf("a run is limited to %s", MaxDuration)
	case c.Keyspace < 1:
		return fmt.Errorf("keyspace must hold at least one key, got %d", c.Keyspace)
	case c.Bucket.Storage != "file" && c.Bucket.Storage != "memory":
		return fmt.Errorf("storage must be file or memory, got %q", c.Bucket.Storage)
	case c.Bucket.Replicas < 1:
		return fmt.Errorf("replicas must be at least 1, got %d", c.Bucket.Replicas)
	case c.Bucket.History < 1 || c.Bucket.History > maxHistory:
		return fmt.Errorf("history must be 1-%d, got %d", maxHistory, c.Bucket.History)
	case c.Workload == Watch && c.Watchers < 1:
		return fmt.Errorf("watch needs at least one watcher")
	case c.Workload == History && c.Bucket.History < 2:
		return fmt.Errorf("the history workload needs a bucket history of at least 2")
	case c.OpTimeout <= 0:
		return fmt.Errorf("op timeout must be positive")
	}
	if _, err := dist.ParseKind(string(c.KeyDist)); err != nil {
		return err
	}
	size, err := dist.ParseSize(c.ValueSize)
	if err != nil {
		return err
	}
	if c.Workload == Watch && size.Min < stampLen {
		return fmt.Errorf("watch values carry an %d-byte send time: value size must be at least %d", stampLen, stampLen)
	}
	if size.Max > maxValue {
		return fmt.Errorf("value size %s is above the harness limit of %d bytes", c.ValueSize, maxValue)
	}
	return nil
}

// maxValue bounds value sizes (a NATS server's default max_payload is
// 1 MiB, headers included).
const maxValue = 8 << 20
