package storage

import "encoding/binary"

// Key layout. Every key starts with a one-byte space tag; group-scoped
// spaces follow it with the 8-byte big-endian group ID so that one
// DeleteRange removes a whole group.
//
//	'r' group 'e' index        raft log entry (raftpb.Entry)
//	'r' group 'h'              raft hard state
//	'r' group 's'              raft snapshot metadata (log truncation point)
//	'g' group <suffix>         the group's replicated state (bucket or meta)
//	'n' <name>                 node-local records (identity, format)
const (
	spaceRaft  = 'r'
	spaceGroup = 'g'
	spaceNode  = 'n'
)

// GroupID identifies a raft group. Group 0 is the meta group.
type GroupID uint64

// RaftPrefix returns the prefix of every raft key of a group.
func RaftPrefix(g GroupID) []byte {
	k := make([]byte, 9, 32)
	k[0] = spaceRaft
	binary.BigEndian.PutUint64(k[1:], uint64(g))
	return k
}

// RaftEntryKey returns the key of the raft log entry at index.
func RaftEntryKey(g GroupID, index uint64) []byte {
	k := append(RaftPrefix(g), 'e')
	return binary.BigEndian.AppendUint64(k, index)
}

// RaftHardStateKey returns the key of a group's raft hard state.
func RaftHardStateKey(g GroupID) []byte { return append(RaftPrefix(g), 'h') }

// RaftSnapshotKey returns the key of a group's snapshot metadata.
func RaftSnapshotKey(g GroupID) []byte { return append(RaftPrefix(g), 's') }

// GroupPrefix returns the prefix of a group's replicated state.
func GroupPrefix(g GroupID) []byte {
	k := make([]byte, 9, 48)
	k[0] = spaceGroup
	binary.BigEndian.PutUint64(k[1:], uint64(g))
	return k
}

// NodeKey returns the key of a node-local record.
func NodeKey(name string) []byte { return append([]byte{spaceNode}, name...) }

// PrefixEnd returns the smallest key greater than every key with prefix p.
func PrefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil // p is all 0xff: no upper bound
}

// RaftConfStateKey returns the key of a group's applied ConfState, written
// in the same batch as the applied state so that a restart knows the voters
// that the applied prefix of the log established.
func RaftConfStateKey(g GroupID) []byte { return append(RaftPrefix(g), 'c') }
