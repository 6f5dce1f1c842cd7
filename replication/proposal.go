package replication

import (
	"encoding/binary"
	"errors"
	"time"
)

// Errors returned to proposers and readers.
var (
	// ErrNotLeader: this replica cannot accept the request now (no leader
	// known, or leadership is changing). Nothing was committed.
	ErrNotLeader = errors.New("no raft leader available")
	// ErrLeaderChanged: the leader a proposal was forwarded to lost its
	// leadership, and the entry did not come with the new leader's first
	// entries (or within an election timeout). Whether it commits is
	// unknown (like a timeout), but the caller learns sooner.
	ErrLeaderChanged = errors.New("raft leader changed before the proposal was replicated; outcome unknown")
	// ErrDropped: the proposal was definitely not committed (raft refused
	// it, or another entry was committed at its index).
	ErrDropped = errors.New("proposal dropped")
	// ErrStopped: the group was stopped (bucket deleted, node shutting
	// down); the outcome of a pending proposal is unknown.
	ErrStopped = errors.New("raft group stopped")
	// ErrGroupFailed: storage failed under the group; it serves nothing.
	ErrGroupFailed = errors.New("raft group failed")
	// ErrDiskLow: this node's data disk is below its free-space reserve
	// (Config.DiskLow); nothing was proposed.
	ErrDiskLow = errors.New("data disk below its free-space reserve (min-free-disk)")
)

// Outcome is what a committed proposal produced.
type Outcome struct {
	Index  uint64
	Result any
}

// proposal is a payload waiting for its entry to be applied.
type proposal struct {
	start time.Time
	id    uint64
	data  []byte // framed: header + payload
	index uint64 // log index once appended by this leader
	// to is the leader the proposal was handed to (this node, or the
	// leader raft forwarded it to), and toTerm that leader's term: a
	// leader that lost its leadership and won it back in a later term
	// may have dropped the proposal in between.
	to, toTerm uint64
	// orphaned is when the leader it was forwarded to lost leadership
	// before the entry reached this replica's log (zero otherwise), and
	// orphanTerm the new leader's term once one is known.
	orphaned   time.Time
	orphanTerm uint64
	done       chan proposalDone
}

type proposalDone struct {
	out Outcome
	err error
}

func (p *proposal) finish(out Outcome, err error) {
	select {
	case p.done <- proposalDone{out, err}:
	default:
	}
}

// Entry payloads are framed with the proposing node's ID and a per-node
// proposal counter, so that only the proposer's replica resolves a waiter.
const frameLen = 16

func frame(node, id uint64, payload []byte) []byte {
	b := make([]byte, frameLen, frameLen+len(payload))
	binary.BigEndian.PutUint64(b, node)
	binary.BigEndian.PutUint64(b[8:], id)
	return append(b, payload...)
}

func unframe(data []byte) (node, id uint64, payload []byte, ok bool) {
	if len(data) < frameLen {
		return 0, 0, nil, false
	}
	return binary.BigEndian.Uint64(data), binary.BigEndian.Uint64(data[8:]), data[frameLen:], true
}

// readRequest waits for a ReadIndex.
type readRequest struct {
	done chan readDone
}

type readDone struct {
	index uint64
	err   error
}
