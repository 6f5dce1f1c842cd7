package report

import (
	"fmt"
	"io"
	"strings"
)

// WriteText writes an etcd-style summary of each run.
func WriteText(w io.Writer, r *Result) error {
	var b strings.Builder
	for i, run := range r.Runs {
		if i > 0 {
			b.WriteString("\n")
		}
		writeRunText(&b, run)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// describe is the one-line description of a run's parameters.
func describe(run Run) string {
	p := run.Params
	var parts []string
	if p.InFlight > 1 {
		parts = append(parts, fmt.Sprintf("%d clients × %d in flight", p.Clients, p.InFlight))
	} else {
		parts = append(parts, fmt.Sprintf("%d clients", p.Clients))
	}
	switch {
	case p.Duration != "" && p.Ops > 0:
		parts = append(parts, fmt.Sprintf("%s or %d ops", p.Duration, p.Ops))
	case p.Duration != "":
		parts = append(parts, p.Duration)
	default:
		parts = append(parts, fmt.Sprintf("%d ops", p.Ops))
	}
	if p.Warmup != "" {
		parts[len(parts)-1] += " after " + p.Warmup + " warm-up"
	}
	if p.Rate > 0 {
		parts = append(parts, fmt.Sprintf("open loop at %s ops/s", Rate(p.Rate)))
	} else {
		parts = append(parts, "closed loop")
	}
	if run.Workload != "bucket-create" {
		parts = append(parts, fmt.Sprintf("%d keys %s", p.Keyspace, p.KeyDist))
		parts = append(parts, valueSize(p.ValueSize))
	}
	parts = append(parts, fmt.Sprintf("R%d %s", p.Replicas, p.Storage))
	if p.History > 1 {
		parts = append(parts, fmt.Sprintf("history %d", p.History))
	}
	if p.Watchers > 0 {
		parts = append(parts, fmt.Sprintf("%d watchers", p.Watchers))
	}
	parts = append(parts, fmt.Sprintf("seed %d", p.Seed))
	return strings.Join(parts, ", ")
}

// valueSize reads "128" as "128 B values" and "1KiB" as "1KiB values".
func valueSize(s string) string {
	if strings.Trim(s, "0123456789-") == "" {
		return s + " B values"
	}
	return s + " values"
}

func latencyLine(l Latency) string {
	if l.Count == 0 {
		return "no samples"
	}
	return fmt.Sprintf("min %s  mean %s  p50 %s  p90 %s  p99 %s  p99.9 %s  max %s",
		Micros(l.MinUS), Micros(l.MeanUS), Micros(l.P50US), Micros(l.P90US), Micros(l.P99US), Micros(l.P999US), Micros(l.MaxUS))
}

func writeRunText(b *strings.Builder, run Run) {
	fmt.Fprintf(b, "%s %s: %s\n", run.Target, run.Workload, describe(run))
	switch {
	case run.Unsupported != "":
		fmt.Fprintf(b, "  unsupported: %s\n", run.Unsupported)
		return
	case run.Failed != "":
		fmt.Fprintf(b, "  failed: %s\n", run.Failed)
		return
	}
	if run.Interrupted {
		b.WriteString("  INTERRUPTED: the figures cover the time measured before Ctrl-C\n")
	}
	fmt.Fprintf(b, "  throughput  %s ops/s (%d ops in %.2f s), %s\n", Rate(run.OpsPerSec), run.Ops, run.Elapsed, Bytes(run.BytesPerSec))
	fmt.Fprintf(b, "  latency     %s\n", latencyLine(run.Latency))
	if run.Service != nil {
		fmt.Fprintf(b, "  service     %s\n", latencyLine(*run.Service))
		b.WriteString("              (latency counts from each operation's intended start; service time from its send)\n")
	}
	for _, op := range sortedKeys(run.ByOp) {
		l := run.ByOp[op]
		fmt.Fprintf(b, "  %-10s  %d ops, p50 %s  p99 %s  max %s\n", op, l.Count, Micros(l.P50US), Micros(l.P99US), Micros(l.MaxUS))
	}
	if run.Delivery != nil {
		fmt.Fprintf(b, "  delivery    %d of %d expected, %s\n", run.Deliveries, run.ExpectedDeliveries, latencyLine(*run.Delivery))
	}
	if run.Conflicts > 0 {
		fmt.Fprintf(b, "  conflicts   %d compare-and-set attempts lost a race\n", run.Conflicts)
	}
	fmt.Fprintf(b, "  errors      %d", run.Errors)
	if len(run.ErrorClasses) > 0 {
		fmt.Fprintf(b, " (%s)", classes(run.ErrorClasses))
	}
	b.WriteString("\n")
	for _, c := range sortedKeys(run.ErrorSamples) {
		for _, m := range run.ErrorSamples[c] {
			fmt.Fprintf(b, "    %s: %s\n", c, m)
		}
	}
}
