package checker

import (
	"sort"

	"github.com/cairnkv/cairn/chaos/history"
)

// Writes checks a bucket's writes against its final history and returns
// the operations with every indeterminate write resolved:
//
//   - an acknowledged write must be stored at the revision it was
//     acknowledged with, with its value (else lost-write or
//     revision-mismatch), and no two acknowledged writes share a revision;
//   - a read that found a value must find it at that revision in the
//     final history (else phantom-read);
//   - a write that definitely failed (a refusal, a CAS's wrong revision)
//     must not be in the final history (else failed-write-applied); a
//     refused write is dropped (it did nothing and tells nothing), a CAS
//     that failed on its revision kept (the register model checks that
//     the revision was wrong);
//   - an unknown write whose unique value the final history holds was
//     applied: it becomes Ok at that revision, its return time left at
//     Never (it took effect some time after its call); one whose value is
//     absent never took effect and is dropped, as are unknown reads.
//
// If the final history is not complete, nothing can be resolved: the
// unknown writes stay as they are, and lost writes are not reported.
func Writes(f *Final, ops []history.Op) ([]history.Op, []Anomaly) {
	var out []Anomaly
	var kept []history.Op
	byRev := map[uint64]history.Op{}
	for _, o := range ops {
		if o.Bucket != f.Bucket {
			continue
		}
		switch {
		case !o.IsWrite():
			if o.Result != history.Ok {
				continue // an unknown read tells nothing
			}
			if o.Found && f.Complete {
				if e, ok := f.Entries[o.Rev]; !ok || e.Key != o.Key || e.Value != o.Value {
					out = append(out, anomalyf(KindPhantomRead, "%s: %s, but the final history has %s", f.Bucket, o, describeRev(f, o.Rev)))
				}
			}
		case o.Result == history.Ok:
			if prev, dup := byRev[o.Rev]; dup {
				out = append(out, anomalyf(KindRevisionDuplicate, "%s revision %d acknowledged twice: %s and %s", f.Bucket, o.Rev, prev, o))
			}
			byRev[o.Rev] = o
			if !f.Complete {
				break
			}
			e, found := f.Lookup(o.Value)
			switch {
			case !found:
				out = append(out, anomalyf(KindLostWrite, "%s: %s, but the final history does not hold it (%s)", f.Bucket, o, describeRev(f, o.Rev)))
			case e.Rev != o.Rev || e.Key != o.Key:
				out = append(out, anomalyf(KindWrongRevision, "%s: %s, but the final history has it as %q at revision %d", f.Bucket, o, e.Key, e.Rev))
			}
		case o.Result == history.Fail:
			if f.Complete {
				if e, found := f.Lookup(o.Value); found {
					out = append(out, anomalyf(KindFailedApplied, "%s: %s, but the final history has it as %q at revision %d", f.Bucket, o, e.Key, e.Rev))
				}
			}
			if o.Inert() {
				continue
			}
		case o.Result == history.Unknown && f.Complete:
			e, found := f.Lookup(o.Value)
			if !found {
				continue // never applied
			}
			if e.Key != o.Key {
				out = append(out, anomalyf(KindWrongRevision, "%s: %s, but the final history has it under key %q at revision %d", f.Bucket, o, e.Key, e.Rev))
			}
			o.Result, o.Rev, o.Err = history.Ok, e.Rev, "resolved: "+o.Err
		}
		kept = append(kept, o)
	}
	out = append(out, realTimeOrder(f.Bucket, kept)...)
	return kept, out
}

func describeRev(f *Final, rev uint64) string {
	e, ok := f.Entries[rev]
	if !ok {
		return "nothing at that revision"
	}
	return "revision " + itoa(rev) + " is " + e.Op + " " + quote(e.Key) + "=" + quote(e.Value)
}

// realTimeOrder checks that revisions follow real time: a write that was
// acknowledged before another was sent has the lower revision. Resolved
// writes (return time Never) take no part.
func realTimeOrder(bucket string, ops []history.Op) []Anomaly {
	var ws []history.Op
	for _, o := range ops {
		if o.IsWrite() && o.Result == history.Ok && o.Return != history.Never {
			ws = append(ws, o)
		}
	}
	byCall := append([]history.Op(nil), ws...)
	sort.Slice(byCall, func(i, j int) bool { return byCall[i].Call < byCall[j].Call })
	byReturn := ws
	sort.Slice(byReturn, func(i, j int) bool { return byReturn[i].Return < byReturn[j].Return })
	var out []Anomaly
	var maxDone history.Op // the highest revision among writes returned so far
	j := 0
	for _, b := range byCall {
		for j < len(byReturn) && byReturn[j].Return < b.Call {
			if byReturn[j].Rev > maxDone.Rev {
				maxDone = byReturn[j]
			}
			j++
		}
		if maxDone.Rev != 0 && b.Rev <= maxDone.Rev {
			out = append(out, anomalyf(KindRevisionOrder, "%s: %s was sent after %s returned, but got a lower revision", bucket, b, maxDone))
		}
	}
	return out
}
