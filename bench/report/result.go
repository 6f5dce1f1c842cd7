package report

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// SchemaVersion changes when a field changes meaning.
const SchemaVersion = 1

// Result is one invocation of the harness: a single run or a comparison
// matrix.
type Result struct {
	Schema  int       `json:"schema"`
	Started time.Time `json:"started"`
	// Command is the command line that produced the result.
	Command string `json:"command"`
	Host    Host   `json:"host"`
	// Targets describes each system measured, in display order; the first
	// is the one the ratios are taken for.
	Targets []Target `json:"targets"`
	Runs    []Run    `json:"runs"`
	// Notes are free-text caveats shown under the tables.
	Notes []string `json:"notes,omitempty"`
}

// Host is the machine the harness ran on.
type Host struct {
	CPUs      int    `json:"cpus"`
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
	Harness   string `json:"harness"` // the cairn version running the harness
}

// Target is one system under test.
type Target struct {
	Name    string `json:"name"`              // cairn, nats, etcd
	Version string `json:"version,omitempty"` // as the server reports it
	Nodes   int    `json:"nodes,omitempty"`
	URLs    string `json:"urls,omitempty"`
	// IdleCPU is the cluster's CPU use in percent of one core while idle,
	// measured before the runs (compare only).
	IdleCPU *float64 `json:"idle_cpu_pct,omitempty"`
	Notes   string   `json:"notes,omitempty"`
}

// Params are the options a run used.
type Params struct {
	Clients   int     `json:"clients"`
	InFlight  int     `json:"in_flight,omitempty"` // per client; 0 or 1: one
	Duration  string  `json:"duration,omitempty"`
	Ops       int64   `json:"ops,omitempty"` // op-count bound, 0: none
	Rate      float64 `json:"rate,omitempty"`
	Warmup    string  `json:"warmup,omitempty"`
	Keyspace  int     `json:"keyspace"`
	KeyDist   string  `json:"key_dist"`
	ValueSize string  `json:"value_size"`
	Replicas  int     `json:"replicas"`
	Storage   string  `json:"storage"`
	History   int     `json:"history,omitempty"`
	Seed      uint64  `json:"seed"`
	Mix       string  `json:"mix,omitempty"`
	HotKeys   int     `json:"hot_keys,omitempty"`
	Watchers  int     `json:"watchers,omitempty"`
}

// Run is one workload against one target.
type Run struct {
	Target   string `json:"target"`
	Workload string `json:"workload"`
	// Round is the round of a comparison that ran its matrix several
	// times (from 1); 0 when it ran once.
	Round  int    `json:"round,omitempty"`
	Params Params `json:"params"`
	// Unsupported, when set, says why the target cannot run the workload;
	// nothing else is filled in.
	Unsupported string `json:"unsupported,omitempty"`
	// Failed, when set, says why the run could not be carried out.
	Failed      string  `json:"failed,omitempty"`
	Interrupted bool    `json:"interrupted,omitempty"`
	Elapsed     float64 `json:"elapsed_s"` // measured time, warm-up excluded
	Ops         int64   `json:"ops"`
	OpsPerSec   float64 `json:"ops_per_s"`
	BytesPerSec float64 `json:"bytes_per_s"`
	Errors      int64   `json:"errors"`
	// ErrorClasses counts errors by kind (timeout, unavailable, ...).
	ErrorClasses map[string]int64    `json:"error_classes,omitempty"`
	ErrorSamples map[string][]string `json:"error_samples,omitempty"`
	// Conflicts are compare-and-set attempts that lost a race: an
	// expected outcome of the cas workload, not an error.
	Conflicts int64 `json:"conflicts,omitempty"`
	// ServerCPUPerOpUS is the CPU the target's server processes used per
	// operation in the measured phase, in microseconds (compare only:
	// it starts the servers and reads their /proc).
	ServerCPUPerOpUS float64 `json:"server_cpu_per_op_us,omitempty"`
	// Latency is measured from each operation's intended start: in
	// open-loop runs it is corrected for coordinated omission.
	Latency Latency `json:"latency"`
	// Service is measured from the actual send (open-loop runs only).
	Service *Latency           `json:"service,omitempty"`
	ByOp    map[string]Latency `json:"by_op,omitempty"`
	// Delivery is the put-to-watcher latency (watch workload).
	Delivery           *Latency `json:"delivery,omitempty"`
	Deliveries         int64    `json:"deliveries,omitempty"`
	ExpectedDeliveries int64    `json:"expected_deliveries,omitempty"`
	// Intervals is the per-second time series after warm-up.
	Intervals []Interval `json:"intervals,omitempty"`
}

// Interval is one progress period.
type Interval struct {
	T         float64 `json:"t_s"` // end of the period, since measurement began
	OpsPerSec float64 `json:"ops_per_s"`
	Errors    int64   `json:"errors"`
	P50US     float64 `json:"p50_us"`
	P99US     float64 `json:"p99_us"`
}

// Latency summarizes a histogram, in microseconds.
type Latency struct {
	Count  int64   `json:"count"`
	MinUS  float64 `json:"min_us"`
	MeanUS float64 `json:"mean_us"`
	P50US  float64 `json:"p50_us"`
	P90US  float64 `json:"p90_us"`
	P99US  float64 `json:"p99_us"`
	P999US float64 `json:"p999_us"`
	MaxUS  float64 `json:"max_us"`
	// Spectrum is the latency at the Percentiles below, for charts.
	Spectrum []Point `json:"spectrum,omitempty"`
}

// Point is a latency at a percentile.
type Point struct {
	Pct float64 `json:"pct"`
	US  float64 `json:"us"`
}

// Percentiles are the points of a latency spectrum.
var Percentiles = []float64{0, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 100}

// LatencyOf summarizes h (in microseconds).
func LatencyOf(h *hdr.Histogram) Latency {
	if h == nil || h.TotalCount() == 0 {
		return Latency{}
	}
	l := Latency{
		Count:  h.TotalCount(),
		MinUS:  float64(h.Min()),
		MeanUS: h.Mean(),
		P50US:  float64(h.ValueAtQuantile(50)),
		P90US:  float64(h.ValueAtQuantile(90)),
		P99US:  float64(h.ValueAtQuantile(99)),
		P999US: float64(h.ValueAtQuantile(99.9)),
		MaxUS:  float64(h.Max()),
	}
	for _, p := range Percentiles {
		l.Spectrum = append(l.Spectrum, Point{Pct: p, US: float64(h.ValueAtQuantile(p))})
	}
	return l
}

// Find returns the run of workload against target, if any.
func (r *Result) Find(target, workload string) (Run, bool) {
	for _, run := range r.Runs {
		if run.Target == target && run.Workload == workload {
			return run, true
		}
	}
	return Run{}, false
}

// Workloads lists the workloads of the runs in first-seen order.
func (r *Result) Workloads() []string {
	var out []string
	seen := map[string]bool{}
	for _, run := range r.Runs {
		if !seen[run.Workload] {
			seen[run.Workload] = true
			out = append(out, run.Workload)
		}
	}
	return out
}

// TargetNames lists the targets: those described, then any others that
// appear in runs.
func (r *Result) TargetNames() []string {
	var out []string
	seen := map[string]bool{}
	for _, t := range r.Targets {
		if !seen[t.Name] {
			seen[t.Name] = true
			out = append(out, t.Name)
		}
	}
	for _, run := range r.Runs {
		if !seen[run.Target] {
			seen[run.Target] = true
			out = append(out, run.Target)
		}
	}
	return out
}

// WriteJSON writes r as indented JSON.
func WriteJSON(w io.Writer, r *Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("encoding results: %w", err)
	}
	return nil
}

// ReadJSON reads a result written by WriteJSON.
func ReadJSON(rd io.Reader) (*Result, error) {
	var r Result
	if err := json.NewDecoder(rd).Decode(&r); err != nil {
		return nil, fmt.Errorf("decoding results: %w", err)
	}
	if r.Schema != SchemaVersion {
		return nil, fmt.Errorf("results schema %d, this harness reads %d", r.Schema, SchemaVersion)
	}
	return &r, nil
}

// ReadFile reads a results.json.
func ReadFile(path string) (*Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadJSON(f)
}
