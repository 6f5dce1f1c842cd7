// Package checker decides whether a chaos run's history is correct. It
// reads histories (package history) and reports anomalies by kind:
//
//   - linearizability of the register workload, per key, with porcupine
//     (indeterminate writes resolved against the final history first);
//   - the set workload: every acknowledged write readable at the end, on
//     every node, and nothing read that was never written;
//   - watches: each stream in revision order, without duplicates or gaps
//     for its filter, consistent with the final history, and complete;
//   - revisions: strictly increasing and gap-free in each bucket, the
//     same on every node, unique per acknowledged write and in real-time
//     order.
//
// It is pure: no network, no processes, no clocks (apart from
// porcupine's time limit and the visualization file it may write). It
// must not import the workload, nemesis or cluster packages.
package checker
