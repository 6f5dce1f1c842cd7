// Package bucket owns one bucket's replicated state on Pebble: the revision
// log (revision → key, operation, headers, value, time, TTL), the key index
// (key → history revisions, latest revision), the expiry index, and the
// deterministic application of committed commands (publish, atomic batch,
// purge, expire, set config).
//
// A bucket maps one-to-one onto a JetStream stream: a revision is a stream
// sequence, a key is a subject below $KV.<bucket>., headers are stored
// verbatim. Everything that decides an outcome (expected revisions, history
// limits, TTL, expiry time) is computed from the command and the current
// state only, so every replica applies a command identically.
//
// bucket must not touch raft keys, the network, or anything outside its
// group's key space.
package bucket
