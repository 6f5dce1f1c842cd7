// Package workload drives client load at a NATS JetStream Key/Value
// service (cairn or nats-server: the client side is the same nats.go
// jetstream.KeyValue code) and records every operation in a history:
//
//   - register: get, put and compare-and-set (update) on a few keys, each
//     key written a bounded number of times before the clients move on to
//     a fresh one, so its whole history stays in the bucket and porcupine
//     checks small partitions;
//   - set: writes of unique keys, all of which must be readable at the end;
//   - watch: watchers on key filters that resume after the last revision
//     they delivered when a watch breaks or stalls;
//   - the final phase: a tombstone write that must succeed once faults
//     have healed, then a scan of each bucket's full history through each
//     node.
//
// Every loop here is bounded by its context and by a count. It must not
// import the nemesis or cluster packages, or cairn's node packages.
package workload
