package chaos

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cairnkv/cairn/chaos/checker"
	"github.com/cairnkv/cairn/chaos/db"
	"github.com/cairnkv/cairn/chaos/history"
	"github.com/cairnkv/cairn/chaos/nemesis"
)

// maxPerKind bounds the anomalies of one kind kept in the report (all
// are counted).
const maxPerKind = 50

// Report is the outcome of a run.
type Report struct {
	Target      string            `json:"target"`
	Servers     []string          `json:"servers"`
	Nodes       int               `json:"nodes"`
	Replicas    int               `json:"replicas"`
	SetReplicas int               `json:"set_replicas"`
	Duration    time.Duration     `json:"duration_ns"`
	Nemeses     []string          `json:"nemeses"`
	Skipped     map[string]string `json:"skipped_nemeses,omitempty"`
	Workloads   []string          `json:"workloads"`
	Seed        uint64            `json:"seed"`
	Started     time.Time         `json:"started"`
	LoadEnded   time.Duration     `json:"load_ended_ns"`
	Elapsed     time.Duration     `json:"elapsed_ns"`
	Dir         string            `json:"dir,omitempty"`

	// Ops counts operations by kind and result.
	Ops   map[string]map[string]int `json:"ops"`
	Total int                       `json:"total_ops"`

	Faults      []nemesis.Event `json:"faults"`
	FaultCounts map[string]int  `json:"fault_counts"`
	Recovered   int             `json:"recovered"`
	MaxRecovery time.Duration   `json:"max_recovery_ns"`

	Linearizability LinearSummary      `json:"linearizability"`
	Set             *checker.SetResult `json:"set,omitempty"`
	Watch           *WatchSummary      `json:"watch,omitempty"`
	Scans           []ScanSummary      `json:"scans"`
	DiskFullExits   []db.Exit          `json:"disk_full_exits,omitempty"`

	// History is the file the operations and scans were saved to (only
	// when anomalies were found).
	History string `json:"history,omitempty"`

	Anomalies     []checker.Anomaly `json:"anomalies"`
	AnomalyCounts map[string]int    `json:"anomaly_counts"`
	Valid         bool              `json:"valid"`
}

// LinearSummary is the register workload's porcupine check.
type LinearSummary struct {
	Result        string `json:"result"`
	Ops           int    `json:"ops"`
	Visualization string `json:"visualization,omitempty"`
}

// WatchSummary counts what the watchers saw.
type WatchSummary struct {
	Watchers int `json:"watchers"`
	Events   int `json:"events"`
	Resumes  int `json:"resumes"`
}

// ScanSummary is one node's final scan of one bucket.
type ScanSummary struct {
	Bucket  string `json:"bucket"`
	Node    string `json:"node"`
	Entries int    `json:"entries"`
	Until   uint64 `json:"until"`
	Err     string `json:"error,omitempty"`
	// Retries and FirstErr: how many attempts to open the scan failed
	// before one succeeded (or the scan gave up), and the first error.
	Retries  int    `json:"retries,omitempty"`
	FirstErr string `json:"first_error,omitempty"`
}

func (r *run) newReport() *Report {
	c := &r.cfg
	rep := &Report{Target: c.Target, Servers: RedactedServers(c.Servers), Nodes: c.Nodes, Replicas: c.Replicas, SetReplicas: c.SetReplicas, Duration: c.Duration,
		Workloads: c.Workloads, Seed: c.Seed, Started: r.log.Start(), Dir: c.Dir, Skipped: r.skipped,
		AnomalyCounts: map[string]int{}, FaultCounts: map[string]int{}, Anomalies: []checker.Anomaly{}}
	if c.external() {
		rep.Target, rep.Nodes = "external", len(c.Servers)
	}
	if r.nem != nil {
		rep.Nemeses = r.nemFaults()
	}
	return rep
}

func (r *run) nemFaults() []string {
	use, _, _ := nemesis.Resolve(r.cfg.Nemeses, r.target)
	return use
}

// add records anomalies, keeping at most maxPerKind of each kind.
func (rep *Report) add(as ...checker.Anomaly) {
	for _, a := range as {
		rep.AnomalyCounts[a.Kind]++
		if rep.AnomalyCounts[a.Kind] <= maxPerKind {
			rep.Anomalies = append(rep.Anomalies, a)
		}
	}
}

func (rep *Report) countOps(ops []history.Op) {
	rep.Ops = map[string]map[string]int{}
	for _, o := range ops {
		m := rep.Ops[o.Kind]
		if m == nil {
			m = map[string]int{}
			rep.Ops[o.Kind] = m
		}
		m[o.Result.String()]++
		rep.Total++
	}
}

func (rep *Report) setFaults(evs []nemesis.Event) {
	rep.Faults = evs
	for _, e := range evs {
		rep.FaultCounts[e.Fault]++
		if e.Recovered {
			rep.Recovered++
			rep.MaxRecovery = max(rep.MaxRecovery, e.Recovery)
		}
	}
}

func (rep *Report) finish(elapsed time.Duration) {
	rep.Elapsed = elapsed
	total := 0
	for _, n := range rep.AnomalyCounts {
		total += n
	}
	rep.Valid = total == 0
}

// AnomalyTotal is the number of anomalies of every kind.
func (rep *Report) AnomalyTotal() int {
	n := 0
	for _, c := range rep.AnomalyCounts {
		n += c
	}
	return n
}

// WriteJSON saves the report.
func (rep *Report) WriteJSON(path string) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// Print writes the report for people.
func (rep *Report) Print(w io.Writer) {
	fmt.Fprintf(w, "\n== cairn chaos report ==\n")
	target := fmt.Sprintf("%s, %d nodes", rep.Target, rep.Nodes)
	if len(rep.Servers) > 0 {
		target = "external cluster " + strings.Join(rep.Servers, ",")
	}
	fmt.Fprintf(w, "target:     %s; replicas: %s %d, %s %d; seed %d\n", target, RegisterBucket, rep.Replicas, SetBucket, rep.SetReplicas, rep.Seed)
	fmt.Fprintf(w, "time:       %s of load, %s in all\n", rep.LoadEnded.Round(time.Second), rep.Elapsed.Round(time.Second))
	fmt.Fprintf(w, "workloads:  %s\n", strings.Join(rep.Workloads, ", "))
	fmt.Fprintf(w, "nemeses:    %s\n", orNone(strings.Join(rep.Nemeses, ", ")))
	for _, k := range sortedKeys(rep.Skipped) {
		fmt.Fprintf(w, "  skipped %s: %s\n", k, rep.Skipped[k])
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "operations\tok\tfail\tunknown\t\n")
	for _, k := range sortedKeys(rep.Ops) {
		m := rep.Ops[k]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t\n", k, m["ok"], m["fail"], m["unknown"])
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "total:      %d operations\n", rep.Total)
	fmt.Fprintf(w, "faults:     %d injected, %d recovered (slowest recovery %s)\n", len(rep.Faults), rep.Recovered, rep.MaxRecovery.Round(time.Millisecond))
	for _, k := range sortedKeys(rep.FaultCounts) {
		fmt.Fprintf(w, "  %-18s %d\n", k, rep.FaultCounts[k])
	}
	if rep.Linearizability.Result != "" {
		fmt.Fprintf(w, "linearizability: %s over %d register operations\n", rep.Linearizability.Result, rep.Linearizability.Ops)
	}
	if rep.Linearizability.Visualization != "" {
		fmt.Fprintf(w, "  visualization: %s\n", rep.Linearizability.Visualization)
	}
	if s := rep.Set; s != nil {
		fmt.Fprintf(w, "set:        %d attempted, %d acknowledged, %d refused, %d unknown found, %d lost\n", s.Attempted, s.Acknowledged, s.Refused, s.Recovered, s.Lost)
	}
	if ws := rep.Watch; ws != nil {
		fmt.Fprintf(w, "watch:      %d watchers, %d events, %d resumes\n", ws.Watchers, ws.Events, ws.Resumes)
	}
	for _, s := range rep.Scans {
		status := "complete"
		if s.Err != "" {
			status = s.Err
		}
		switch {
		case s.Retries > 0 && s.Err == "":
			status += fmt.Sprintf(" (opened after %d failed attempts, the first: %s)", s.Retries, s.FirstErr)
		case s.Retries > 0:
			status += fmt.Sprintf(" (%d attempts to open it failed, the first: %s)", s.Retries, s.FirstErr)
		}
		fmt.Fprintf(w, "scan:       %s via %s: %d revisions (to %d): %s\n", s.Bucket, s.Node, s.Entries, s.Until, status)
	}
	for _, e := range rep.DiskFullExits {
		fmt.Fprintf(w, "disk full:  %s exited (%s) while its disk was full: %s\n", e.Node, e.Err, e.Reason)
	}
	if rep.Valid {
		fmt.Fprintf(w, "anomalies:  none. VALID\n")
		return
	}
	fmt.Fprintf(w, "anomalies:  %d. INVALID\n", rep.AnomalyTotal())
	if rep.History != "" {
		fmt.Fprintf(w, "  history:  %s\n", rep.History)
	}
	for _, k := range sortedKeys(rep.AnomalyCounts) {
		fmt.Fprintf(w, "  %-24s %d\n", k, rep.AnomalyCounts[k])
	}
	shown := map[string]int{}
	for _, a := range rep.Anomalies {
		if shown[a.Kind]++; shown[a.Kind] <= 5 {
			fmt.Fprintf(w, "  - %s\n", a)
		}
	}
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
