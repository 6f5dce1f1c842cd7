package report

import (
	"fmt"
	"io"
	"strings"
)

// WriteMarkdown writes the comparison tables: throughput per target and
// the first target's ratio to each other target, then p50 / p99 latency
// per target, then (when measured) the servers' CPU per operation, then
// what each target was.
func WriteMarkdown(w io.Writer, r *Result) error {
	var b strings.Builder
	for i, t := range r.tables() {
		if i > 0 {
			b.WriteString("\n")
		}
		t.markdown(&b)
	}
	if len(r.Notes) > 0 {
		b.WriteString("\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func row(b *strings.Builder, cells []string) {
	b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
}

// cell is a run's throughput, or why there is none.
func throughputCell(run Run, ok bool) string {
	switch {
	case !ok:
		return "—"
	case run.Unsupported != "":
		return "unsupported"
	case run.Failed != "":
		return "failed"
	}
	s := Rate(run.OpsPerSec) + " /s"
	if run.Errors > 0 {
		s += fmt.Sprintf(" (%d errors)", run.Errors)
	}
	if run.Interrupted {
		s += " (interrupted)"
	}
	return s
}

// usable reports whether a run has figures to compare.
func usable(run Run, ok bool) bool {
	return ok && run.Unsupported == "" && run.Failed == "" && run.Ops > 0
}

// table is a table for Markdown and HTML alike.
type table struct {
	id    string
	head  []string
	right []bool // right-aligned columns
	rows  [][]string
}

func (t table) markdown(b *strings.Builder) {
	row(b, t.head)
	align := make([]string, len(t.head))
	for i := range align {
		align[i] = "---"
		if t.right[i] {
			align[i] = "--:"
		}
	}
	row(b, align)
	for _, r := range t.rows {
		row(b, r)
	}
}

// tables are the throughput, latency and (if described) target tables.
func (r *Result) tables() []table {
	targets := r.TargetNames()
	if len(targets) == 0 {
		return nil
	}
	out := []table{r.throughputTable(targets), r.latencyTable(targets)}
	if r.hasServerCPU() {
		out = append(out, r.cpuTable(targets))
	}
	if len(r.Targets) > 0 {
		out = append(out, r.targetsTable())
	}
	return out
}

// newTable starts a table whose first column is the workload, then one
// column per target, then one per other target for the ratio of the
// first to it.
func newTable(id string, targets []string, perTarget, perRatio func(t string) string) table {
	t := table{id: id, head: []string{"workload"}, right: []bool{false}}
	for _, tg := range targets {
		t.head = append(t.head, perTarget(tg))
		t.right = append(t.right, true)
	}
	for _, tg := range targets[1:] {
		t.head = append(t.head, perRatio(tg))
		t.right = append(t.right, true)
	}
	return t
}

// figureTable is a table of one cell per target, from its median run,
// then the first target's ratio of figure to each other target's.
func (r *Result) figureTable(id string, targets []string, perTarget, perRatio func(string) string,
	cell func(Run, bool) string, figure func(Run) float64) table {
	t := newTable(id, targets, perTarget, perRatio)
	for _, wl := range r.Workloads() {
		cells := []string{wl}
		for _, tg := range targets {
			cells = append(cells, cell(r.Median(tg, wl)))
		}
		for _, tg := range targets[1:] {
			cells = append(cells, r.ratioCell(targets[0], tg, wl, figure))
		}
		t.rows = append(t.rows, cells)
	}
	return t
}

func (r *Result) throughputTable(targets []string) table {
	return r.figureTable("throughput", targets,
		func(tg string) string { return tg + " ops/s" },
		func(tg string) string { return targets[0] + " ÷ " + tg },
		throughputCell, func(run Run) float64 { return run.OpsPerSec })
}

func (r *Result) latencyTable(targets []string) table {
	return r.figureTable("latency", targets,
		func(tg string) string { return tg + " p50 / p99" },
		func(tg string) string { return "p99 " + targets[0] + " ÷ " + tg },
		func(run Run, ok bool) string {
			if !usable(run, ok) {
				return "—"
			}
			return Micros(run.Latency.P50US) + " / " + Micros(run.Latency.P99US)
		},
		func(run Run) float64 { return run.Latency.P99US })
}

func (r *Result) hasServerCPU() bool {
	for _, run := range r.Runs {
		if run.ServerCPUPerOpUS > 0 {
			return true
		}
	}
	return false
}

// cpuTable is the servers' CPU per operation, and the first target's
// ratio to the others' (above 1: the first uses more).
func (r *Result) cpuTable(targets []string) table {
	return r.figureTable("cpu", targets,
		func(tg string) string { return tg + " server CPU per op" },
		func(tg string) string { return "CPU " + targets[0] + " ÷ " + tg },
		func(run Run, ok bool) string {
			if !usable(run, ok) || run.ServerCPUPerOpUS <= 0 {
				return "—"
			}
			return Micros(run.ServerCPUPerOpUS)
		},
		func(run Run) float64 { return run.ServerCPUPerOpUS })
}

func (r *Result) targetsTable() table {
	t := table{id: "targets", head: []string{"target", "version", "nodes", "idle CPU", "notes"},
		right: []bool{false, false, true, true, false}}
	for _, tg := range r.Targets {
		idle := "—"
		if tg.IdleCPU != nil {
			idle = fmt.Sprintf("%.1f%%", *tg.IdleCPU)
		}
		nodes := "—"
		if tg.Nodes > 0 {
			nodes = fmt.Sprint(tg.Nodes)
		}
		t.rows = append(t.rows, []string{tg.Name, orDash(tg.Version), nodes, idle, orDash(tg.Notes)})
	}
	return t
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
