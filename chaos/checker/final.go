package checker

import (
	"slices"

	"github.com/cairnkv/cairn/chaos/history"
)

// Final is a bucket's history as the end of the run established it: the
// union of every node's scan, once they were checked against each other.
type Final struct {
	Bucket  string
	Entries map[uint64]history.Entry // by revision
	Last    uint64                   // highest revision seen
	// ByValue lists the revisions each value was stored at.
	ByValue map[string][]uint64
	// Complete is false when no scan reached the revision it had to.
	Complete bool
}

// Reconcile checks the scans of one bucket, one per node, and merges them
// into the reference history. Each scan must list strictly increasing
// revisions from 1 without gaps and reach its Until revision; two scans
// must never disagree about a revision. A node that could not be reached
// at all is left out, as long as another could be scanned.
func Reconcile(bucket string, scans []history.Scan) (*Final, []Anomaly) {
	f := &Final{Bucket: bucket, Entries: map[uint64]history.Entry{}, ByValue: map[string][]uint64{}}
	var out []Anomaly
	owner := map[uint64]string{} // which scan a reference entry came from
	unreachable := 0
	for _, s := range scans {
		if s.Bucket != bucket {
			continue
		}
		if s.Unreachable {
			unreachable++
			continue
		}
		if s.Err != "" {
			out = append(out, anomalyf(KindUnconverged, "%s: node %s: scan incomplete (reached revision %d of %d): %s",
				bucket, s.Node, lastRev(s.Entries), s.Until, s.Err))
		} else {
			f.Complete = true
		}
		out = append(out, scanOrder(bucket, s)...)
		for _, e := range s.Entries {
			if prev, ok := f.Entries[e.Rev]; ok {
				if prev != e {
					out = append(out, anomalyf(KindDivergence, "%s revision %d: node %s has %s %q=%q, node %s has %s %q=%q",
						bucket, e.Rev, owner[e.Rev], prev.Op, prev.Key, prev.Value, s.Node, e.Op, e.Key, e.Value))
				}
				continue
			}
			f.Entries[e.Rev] = e
			owner[e.Rev] = s.Node
			f.Last = max(f.Last, e.Rev)
		}
	}
	if !f.Complete && unreachable > 0 {
		out = append(out, anomalyf(KindUnconverged, "%s: no node could be scanned to the end (%d unreachable)", bucket, unreachable))
	}
	for rev, e := range f.Entries {
		if e.Op == history.OpPut {
			f.ByValue[e.Value] = append(f.ByValue[e.Value], rev)
		}
	}
	for v, revs := range f.ByValue {
		if len(revs) > 1 {
			slices.Sort(revs)
			out = append(out, anomalyf(KindDuplicateWrite, "%s: value %q stored at revisions %v", bucket, v, revs))
		}
	}
	return f, out
}

// scanOrder checks one scan: strictly increasing revisions, from 1,
// without gaps up to where it ended.
func scanOrder(bucket string, s history.Scan) []Anomaly {
	var out []Anomaly
	var prev uint64
	for _, e := range s.Entries {
		switch {
		case e.Rev <= prev:
			out = append(out, anomalyf(KindRevisionOrder, "%s: node %s delivered revision %d after %d", bucket, s.Node, e.Rev, prev))
			continue
		case e.Rev > prev+1:
			out = append(out, anomalyf(KindRevisionGap, "%s: node %s has no revisions %d..%d (next is %d %q)", bucket, s.Node, prev+1, e.Rev-1, e.Rev, e.Key))
		}
		prev = e.Rev
	}
	return out
}

func lastRev(es []history.Entry) uint64 {
	var m uint64
	for _, e := range es {
		m = max(m, e.Rev)
	}
	return m
}

// Lookup finds the single revision a unique value was stored at.
func (f *Final) Lookup(value string) (history.Entry, bool) {
	revs := f.ByValue[value]
	if len(revs) == 0 {
		return history.Entry{}, false
	}
	return f.Entries[revs[0]], true
}
