// Package replication runs cairn's raft groups: one etcd-raft RawNode per
// group (the meta group and one per bucket), all driven by a Scheduler
// whose small pool of workers serves every group, rather than a goroutine
// per group.
//
// For each group the driver follows raft's Ready contract: persist entries,
// hard state and snapshot metadata (synced when raft says MustSync), apply
// committed entries and the applied index in the same batch, then send
// messages and hand results to the proposers, then Advance. Because the
// persist and apply of several groups run on several workers, their synced
// batches meet in Pebble's commit pipeline and share fsyncs.
//
// replication owns proposals, linearizable reads (ReadIndex), log
// truncation and leadership. It knows nothing of what entries mean: a group
// applies them to a StateMachine it is given. It must not reach into
// node/ or the client protocols; peers are reached through the Transport
// interface it declares.
package replication
