// Package meta owns the cluster metadata state machine that raft group 0
// replicates: the bucket registry (name → raft group, configuration,
// replica placement) and the allocation of group IDs.
//
// Like storage/bucket, it applies committed commands deterministically into
// a caller's batch. It must not create or destroy bucket groups itself;
// the node layer reacts to registry changes.
package meta
