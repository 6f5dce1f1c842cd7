package checker

import (
	"github.com/cairnkv/cairn/chaos/history"
)

// SetResult counts the set workload's writes.
type SetResult struct {
	Attempted, Acknowledged int
	// Refused: writes that definitely failed (the target refused them).
	Refused int
	// Recovered: unknown writes found at the end.
	Recovered int
	// Lost: acknowledged writes missing from at least one node's scan.
	Lost int
}

// Set checks the set workload of one bucket: each write puts a unique
// key. Every acknowledged write must be readable at the end in every
// complete scan (every node), with its value; a write missing from one
// node only is split brain, and still lost. A write refused as
// definitely not done must not be there. Nothing may be read that was
// never attempted (ignore lists keys other workloads wrote, such as the
// final tombstone).
func Set(bucket string, ops []history.Op, scans []history.Scan, ignore map[string]bool) (SetResult, []Anomaly) {
	var r SetResult
	tried := map[string]history.Op{} // by key
	for _, o := range ops {
		if o.Bucket != bucket || o.Kind != history.Add {
			continue
		}
		r.Attempted++
		tried[o.Key] = o
		switch o.Result {
		case history.Ok:
			r.Acknowledged++
		case history.Fail:
			r.Refused++
		}
	}
	var out []Anomaly
	lost := map[string]bool{}
	recovered := map[string]bool{}
	for _, s := range scans {
		if s.Bucket != bucket || s.Err != "" || s.Unreachable {
			continue // incomplete scans are reported by Reconcile
		}
		have := map[string]string{}
		for _, e := range s.Entries {
			if e.Op != history.OpPut {
				delete(have, e.Key)
				continue
			}
			have[e.Key] = e.Value
			if _, ok := tried[e.Key]; !ok && !ignore[e.Key] {
				out = append(out, anomalyf(KindUnexpectedWrite, "%s: node %s holds %q=%q, which no client wrote", bucket, s.Node, e.Key, e.Value))
			}
		}
		for k, o := range tried {
			v, ok := have[k]
			switch {
			case o.Result == history.Ok && (!ok || v != o.Value):
				lost[k] = true
				out = append(out, anomalyf(KindLostWrite, "%s: node %s lacks %s", bucket, s.Node, o))
			case o.Result == history.Unknown && ok:
				recovered[k] = true
			case o.Result == history.Fail && ok:
				out = append(out, anomalyf(KindFailedApplied, "%s: node %s holds %q=%q, whose write was refused: %s", bucket, s.Node, k, v, o))
			}
		}
	}
	r.Lost, r.Recovered = len(lost), len(recovered)
	return r, out
}
