package checker

import (
	"strings"

	"github.com/cairnkv/cairn/chaos/history"
)

// Watch checks one watcher's stream against the final history of its
// bucket:
//
//   - ordered: revisions strictly increase over the whole stream, across
//     its restarts (watch-order, watch-duplicate);
//   - each event matches the filter and equals the final history's entry
//     at its revision (watch-filter, watch-mismatch);
//   - no gaps: between the first revision it asked for and the last one
//     it had to reach, it delivered every revision of the final history
//     that matches its filter (watch-gap);
//   - complete: it reached that last revision (watch-stalled).
//
// until is the revision every watcher had to reach, or the last one at or
// below it that matches its filter (0: none; then the stream is checked
// up to its last event).
func Watch(s history.Stream, f *Final, until uint64) []Anomaly {
	var out []Anomaly
	id := func() string { return s.Bucket + " watcher " + itoa(uint64(s.Watcher)) + " (" + s.Filter + ")" }
	seen := map[uint64]bool{}
	var prev uint64
	for _, ev := range s.Events {
		switch {
		case seen[ev.Rev]:
			out = append(out, anomalyf(KindWatchDuplicate, "%s: revision %d delivered again (session %d)", id(), ev.Rev, ev.Session))
		case ev.Rev < prev:
			out = append(out, anomalyf(KindWatchOrder, "%s: revision %d delivered after %d (session %d)", id(), ev.Rev, prev, ev.Session))
		}
		seen[ev.Rev] = true
		prev = max(prev, ev.Rev)
		if !MatchFilter(s.Filter, ev.Key) {
			out = append(out, anomalyf(KindWatchFilter, "%s: revision %d is key %q", id(), ev.Rev, ev.Key))
		}
		if f.Complete && ev.Rev <= f.Last { // later ones cannot be verified
			if want, ok := f.Entries[ev.Rev]; !ok || want != ev.Entry {
				out = append(out, anomalyf(KindWatchMismatch, "%s: revision %d delivered as %s %q=%q, but the final history has %s",
					id(), ev.Rev, ev.Op, ev.Key, ev.Value, describeRev(f, ev.Rev)))
			}
		}
	}
	if !f.Complete {
		return out
	}
	end := prev
	if need := f.LastMatching(s.Filter, until); until > 0 {
		end = until
		if prev < need || s.Stalled {
			out = append(out, anomalyf(KindWatchStalled, "%s: reached revision %d, had to reach %d", id(), prev, need))
			end = prev
		}
	}
	from := uint64(1)
	if len(s.Sessions) > 0 && s.Sessions[0].From > 1 {
		from = s.Sessions[0].From
	}
	var missing []uint64
	for rev := from; rev <= end; rev++ {
		e, ok := f.Entries[rev]
		if ok && MatchFilter(s.Filter, e.Key) && !seen[rev] {
			missing = append(missing, rev)
		}
	}
	if len(missing) > 0 {
		out = append(out, anomalyf(KindWatchGap, "%s: %d revisions matching the filter never delivered, first %v", id(), len(missing), missing[:min(5, len(missing))]))
	}
	return out
}

// MatchFilter reports whether a key matches a NATS KV key filter: tokens
// split by dots, * matches one token, > the rest (one or more).
func MatchFilter(filter, key string) bool {
	ft := strings.Split(filter, ".")
	kt := strings.Split(key, ".")
	for i, f := range ft {
		if f == ">" {
			return len(kt) > i
		}
		if i >= len(kt) || (f != "*" && f != kt[i]) {
			return false
		}
	}
	return len(ft) == len(kt)
}

// LastMatching is the highest revision at or below until whose key
// matches filter (0 if none).
func (f *Final) LastMatching(filter string, until uint64) uint64 {
	var last uint64
	for rev, e := range f.Entries {
		if rev <= until && rev > last && MatchFilter(filter, e.Key) {
			last = rev
		}
	}
	return last
}
