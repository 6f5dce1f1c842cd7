package report

import (
	"fmt"
	"sort"
)

// A comparison may run its matrix several times (rounds), because on a
// shared machine one run of a workload can differ from the next by half.
// The tables then show, per target, the run of the median round and, per
// pair of targets, the median of the ratios taken round by round (each
// from runs minutes apart), with their range.

// Rounds reports how many rounds the runs come from (1 when they carry
// no round).
func (r *Result) Rounds() int {
	n := 1
	for _, run := range r.Runs {
		n = max(n, run.Round)
	}
	return n
}

// FindAll returns every run of workload against target, in the order
// they ran.
func (r *Result) FindAll(target, workload string) []Run {
	var out []Run
	for _, run := range r.Runs {
		if run.Target == target && run.Workload == workload {
			out = append(out, run)
		}
	}
	return out
}

// Median returns the run of workload against target to show: the only
// one, or of several rounds the usable run with the median throughput
// (the lower middle one of an even number), or the first run when none
// is usable.
func (r *Result) Median(target, workload string) (Run, bool) {
	runs := r.FindAll(target, workload)
	if len(runs) <= 1 {
		return r.Find(target, workload)
	}
	var ok []Run
	for _, run := range runs {
		if usable(run, true) {
			ok = append(ok, run)
		}
	}
	if len(ok) == 0 {
		return runs[0], true
	}
	sort.SliceStable(ok, func(i, j int) bool { return ok[i].OpsPerSec < ok[j].OpsPerSec })
	return ok[(len(ok)-1)/2], true
}

// ratioCell is base's figure over other's for workload: with several
// rounds, the median of the rounds' ratios and their range, over the
// rounds in which both ran.
func (r *Result) ratioCell(base, other, workload string, figure func(Run) float64) string {
	byRound := map[int]Run{}
	for _, run := range r.FindAll(other, workload) {
		if usable(run, true) {
			byRound[run.Round] = run
		}
	}
	var ratios []float64
	var single string // the only round's ratio, as a single-round table shows it
	for _, b := range r.FindAll(base, workload) {
		o, ok := byRound[b.Round]
		if usable(b, true) && ok && figure(b) > 0 && figure(o) > 0 {
			ratios = append(ratios, figure(b)/figure(o))
			single = Ratio(figure(b), figure(o))
		}
	}
	switch {
	case len(ratios) == 0:
		return "—"
	case r.Rounds() <= 1:
		return single
	case len(ratios) == 1:
		return fmt.Sprintf("%.2f× (1 round)", ratios[0])
	}
	sort.Float64s(ratios)
	return fmt.Sprintf("%.2f× (%.2f–%.2f, %d rounds)", median(ratios), ratios[0], ratios[len(ratios)-1], len(ratios))
}

// median of sorted xs.
func median(xs []float64) float64 {
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}
