// Package storage owns cairn's on-disk state: one Pebble database per node
// (plus an in-memory twin for buckets with memory storage) that holds every
// raft group's log, hard state and snapshot metadata, and every bucket's
// state.
//
// The package opens and validates data directories (a damaged or foreign
// directory is refused with an error naming the path; an initialized
// directory is never silently replaced by an empty one) and defines the key
// layout shared by its sub-packages:
//
//   - storage/raftlog: a raft.Storage per group and the persistence of raft
//     Ready state (entries, hard state, snapshot metadata);
//   - storage/bucket: a bucket's revision log, key index, history and expiry
//     index, and the deterministic application of committed commands;
//   - storage/meta: the cluster metadata state (bucket registry).
//
// Synced writes go through Pebble's commit pipeline, which coalesces
// concurrent synced batches into one WAL fsync: proposals of many groups and
// many clients share each fsync (group commit).
//
// storage knows nothing of raft message transport, networking, the NATS
// protocol or bucket semantics beyond what applying a command requires.
package storage
