package checker

import (
	"fmt"
	"sort"
)

// Kinds of anomaly.
const (
	// Linearizability: porcupine found no linearization of a key's
	// history (Illegal), or gave up in time (Unknown, also a failure).
	KindNotLinearizable  = "not-linearizable"
	KindLinearizeTimeout = "linearizability-unknown"
	// Writes.
	KindLostWrite       = "lost-write"           // acknowledged, not in the final history
	KindUnexpectedWrite = "unexpected-write"     // in the final history, never attempted
	KindDuplicateWrite  = "duplicate-write"      // one unique value stored at two revisions
	KindWrongRevision   = "revision-mismatch"    // acknowledged at one revision, stored at another
	KindPhantomRead     = "phantom-read"         // a read returned what the final history does not hold
	KindFailedApplied   = "failed-write-applied" // refused as definitely not done, yet in the final history
	// Revisions.
	KindRevisionOrder     = "revision-order"     // not strictly increasing (in a scan, or in real time)
	KindRevisionDuplicate = "revision-duplicate" // two acknowledged writes with one revision
	KindRevisionGap       = "revision-gap"       // a revision missing from the final history
	KindDivergence        = "divergence"         // two nodes hold different entries at one revision
	KindUnconverged       = "unconverged"        // a node's scan never reached the last revision
	// Watches.
	KindWatchOrder     = "watch-order"
	KindWatchDuplicate = "watch-duplicate"
	KindWatchGap       = "watch-gap"
	KindWatchMismatch  = "watch-mismatch" // an event differs from the final history
	KindWatchFilter    = "watch-filter"   // an event outside the watcher's filter
	KindWatchStalled   = "watch-stalled"  // never reached the end of the history
	// The cluster.
	KindUnavailable = "unavailable" // no write succeeded after the faults healed
	KindCrash       = "crash"       // a node exited that no fault killed
	KindDataRace    = "data-race"   // a node built with -race reported one
)

// Anomaly is one thing that went wrong.
type Anomaly struct {
	Kind   string `json:"kind"`
	Detail string `json:"detail"`
}

func (a Anomaly) String() string { return a.Kind + ": " + a.Detail }

// anomalyf makes an Anomaly.
func anomalyf(kind, format string, args ...any) Anomaly {
	return Anomaly{Kind: kind, Detail: fmt.Sprintf(format, args...)}
}

// CountByKind counts anomalies per kind.
func CountByKind(as []Anomaly) map[string]int {
	m := map[string]int{}
	for _, a := range as {
		m[a.Kind]++
	}
	return m
}

// Kinds lists the kinds present, sorted.
func Kinds(as []Anomaly) []string {
	var ks []string
	for k := range CountByKind(as) {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
