// Package raftlog implements etcd-raft's Storage interface for one raft
// group on the node's shared Pebble database, and persists the durable
// parts of a raft Ready (entries, hard state, snapshot metadata) into a
// caller-supplied batch so that many groups can share one synced commit.
//
// It owns the raft key space of its group (storage.RaftPrefix) and nothing
// else: it never touches a group's replicated state, never sends messages
// and never applies entries.
package raftlog
