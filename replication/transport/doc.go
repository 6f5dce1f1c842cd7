// Package transport carries bytes between cairn nodes on the peer port:
// raft messages of every group, snapshot streams, and request/response
// calls (a follower forwarding a client write to its group's leader).
//
// It owns the wire: connections, the handshake that names both ends,
// framing and checksums, per-peer queues and their bounds, batching of many
// groups' messages into one frame, reconnecting with backoff, and staging an
// incoming snapshot until it has been verified end to end.
//
// It must not touch raft logic, storage or buckets. It never interprets a
// raft message beyond what routing needs (type, from, to); it never decides
// whether a snapshot is applied; it keeps nothing across restarts. What the
// bytes mean is the Handler's business, implemented by the node layer,
// which hands messages to replication.Scheduler.Deliver and snapshot
// outcomes to raft. Raft tolerates loss, so when a queue is full or a peer
// is down messages are dropped (and reported unreachable) rather than
// buffered without bound.
//
// Connections: each node dials each peer it sends to, so a pair of nodes
// holds one stream connection per direction. Raft batches and call requests
// flow from dialer to acceptor; pongs and call responses flow back on the
// same connection. Every snapshot gets a connection of its own, so a large
// transfer never delays heartbeats.
package transport
