package raftlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/cairnkv/cairn/storage"
	"github.com/cockroachdb/pebble/v2"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
)

// cacheMaxBytes bounds the in-memory tail of recent entries kept so that
// applying just-committed entries does not read them back from Pebble.
const cacheMaxBytes = 8 << 20

// Log is the raft log of one group. Methods of raft.Storage may be called
// concurrently with Save/Compact only if the caller serializes them; the
// replication layer drives each group from one goroutine at a time, and the
// mutex protects readers such as status endpoints.
type Log struct {
	db    *storage.DB
	group storage.GroupID

	mu    sync.Mutex
	hs    raftpb.HardState
	cs    raftpb.ConfState
	snap  raftpb.SnapshotMetadata // index/term of the last truncated entry
	first uint64                  // first available entry (snap.Index+1)
	last  uint64                  // last entry (first-1 when empty)

	cache      []raftpb.Entry // consecutive entries ending at last
	cacheBytes int

	// The terms of the entries last trimmed from the cache, as runs of
	// one term each, up to index trimmedTo. Raft asks the term of its
	// commit index on every read index request, and once applied that
	// entry is no longer cached: without these, each such question was a
	// Pebble read.
	trimmed   []termRun
	trimmedTo uint64
}

// termRun: entries from first on (up to the next run) have term.
type termRun struct{ first, term uint64 }

// maxTermRuns bounds the remembered runs; older ones are forgotten.
const maxTermRuns = 8

// Open loads a group's raft log state from db.
func Open(db *storage.DB, group storage.GroupID) (*Log, error) {
	l := &Log{db: db, group: group}
	if err := getProto(db, storage.RaftHardStateKey(group), &l.hs); err != nil {
		return nil, fmt.Errorf("group %d: reading hard state: %w", group, err)
	}
	if err := getProto(db, storage.RaftSnapshotKey(group), &l.snap); err != nil {
		return nil, fmt.Errorf("group %d: reading snapshot metadata: %w", group, err)
	}
	if err := getProto(db, storage.RaftConfStateKey(group), &l.cs); err != nil {
		return nil, fmt.Errorf("group %d: reading conf state: %w", group, err)
	}
	if len(l.cs.Voters) == 0 && len(l.cs.Learners) == 0 {
		l.cs = l.snap.ConfState
	}
	l.first = l.snap.Index + 1
	l.last = l.snap.Index
	last, err := l.lastStoredIndex()
	if err != nil {
		return nil, err
	}
	if last >= l.first {
		l.last = last
	}
	return l, nil
}

// Exists reports whether a group has any raft state on db.
func Exists(db *storage.DB, group storage.GroupID) (bool, error) {
	p := storage.RaftPrefix(group)
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: storage.PrefixEnd(p)})
	if err != nil {
		return false, err
	}
	defer it.Close()
	return it.First(), it.Error()
}

// Bootstrap initializes an empty group with the given voters, as if a
// snapshot at index 1, term 1 had established them. Every initial replica
// bootstraps identically; replicas added later start empty and receive a
// snapshot from the leader.
func Bootstrap(b *pebble.Batch, group storage.GroupID, voters []uint64) error {
	meta := raftpb.SnapshotMetadata{Index: 1, Term: 1, ConfState: raftpb.ConfState{Voters: voters}}
	hs := raftpb.HardState{Term: 1, Commit: 1}
	if err := setProto(b, storage.RaftSnapshotKey(group), &meta); err != nil {
		return err
	}
	if err := setProto(b, storage.RaftConfStateKey(group), &meta.ConfState); err != nil {
		return err
	}
	return setProto(b, storage.RaftHardStateKey(group), &hs)
}

// Destroy deletes every raft key of a group.
func Destroy(b *pebble.Batch, group storage.GroupID) error {
	p := storage.RaftPrefix(group)
	return b.DeleteRange(p, storage.PrefixEnd(p), nil)
}

func (l *Log) lastStoredIndex() (uint64, error) {
	lo := storage.RaftEntryKey(l.group, 0)
	hi := storage.RaftEntryKey(l.group, ^uint64(0))
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	if !it.Last() {
		return 0, it.Error()
	}
	k := it.Key()
	return binary.BigEndian.Uint64(k[len(k)-8:]), nil
}

// InitialState implements raft.Storage.
func (l *Log) InitialState() (raftpb.HardState, raftpb.ConfState, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.hs, l.cs, nil
}

// FirstIndex implements raft.Storage.
func (l *Log) FirstIndex() (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.first, nil
}

// LastIndex implements raft.Storage.
func (l *Log) LastIndex() (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last, nil
}

// Term implements raft.Storage.
func (l *Log) Term(i uint64) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case i == l.snap.Index:
		return l.snap.Term, nil
	case i < l.first:
		return 0, raft.ErrCompacted
	case i > l.last:
		return 0, raft.ErrUnavailable
	}
	if e, ok := l.cached(i); ok {
		return e.Term, nil
	}
	if t, ok := l.trimmedTerm(i); ok {
		return t, nil
	}
	ents, err := l.load(i, i+1, 0)
	if err != nil {
		return 0, err
	}
	return ents[0].Term, nil
}

// Entries implements raft.Storage. As raft's contract says, maxSize
// limits the total size but at least one entry is returned: 0 means one
// entry (raft's MaxSizePerMsg = 0), math.MaxUint64 no limit.
func (l *Log) Entries(lo, hi, maxSize uint64) ([]raftpb.Entry, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if lo < l.first {
		return nil, raft.ErrCompacted
	}
	if hi > l.last+1 {
		return nil, raft.ErrUnavailable
	}
	if len(l.cache) > 0 && lo >= l.cache[0].Index {
		off := lo - l.cache[0].Index
		out := make([]raftpb.Entry, 0, hi-lo)
		var size uint64
		for _, e := range l.cache[off : off+(hi-lo)] {
			size += uint64(e.Size())
			if len(out) > 0 && size > maxSize {
				break
			}
			out = append(out, e)
		}
		return out, nil
	}
	return l.load(lo, hi, maxSize)
}

// Snapshot implements raft.Storage. The snapshot's data is not held here:
// a group's state is streamed from a consistent Pebble snapshot by the
// replication layer when a follower needs it.
func (l *Log) Snapshot() (raftpb.Snapshot, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return raftpb.Snapshot{Metadata: l.snap}, nil
}

// trimmedTerm answers Term from the runs of trimmed entries.
func (l *Log) trimmedTerm(i uint64) (uint64, bool) {
	if len(l.trimmed) == 0 || i < l.trimmed[0].first || i > l.trimmedTo {
		return 0, false
	}
	for k := len(l.trimmed) - 1; ; k-- {
		if l.trimmed[k].first <= i {
			return l.trimmed[k].term, true
		}
	}
}

// forgetTrimmedFrom drops what the runs say about index i and later
// (those entries are being replaced or discarded).
func (l *Log) forgetTrimmedFrom(i uint64) {
	if l.trimmedTo < i {
		return
	}
	for len(l.trimmed) > 0 && l.trimmed[len(l.trimmed)-1].first >= i {
		l.trimmed = l.trimmed[:len(l.trimmed)-1]
	}
	l.trimmedTo = i - 1
	if len(l.trimmed) == 0 {
		l.trimmedTo = 0
	}
}

func (l *Log) cached(i uint64) (raftpb.Entry, bool) {
	if len(l.cache) == 0 || i < l.cache[0].Index || i > l.last {
		return raftpb.Entry{}, false
	}
	return l.cache[i-l.cache[0].Index], true
}

func (l *Log) load(lo, hi, maxSize uint64) ([]raftpb.Entry, error) {
	it, err := l.db.NewIter(&pebble.IterOptions{
		LowerBound: storage.RaftEntryKey(l.group, lo),
		UpperBound: storage.RaftEntryKey(l.group, hi),
	})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	out := make([]raftpb.Entry, 0, min(hi-lo, 64))
	var size uint64
	next := lo
	for ok := it.First(); ok; ok = it.Next() {
		var e raftpb.Entry
		if err := e.Unmarshal(it.Value()); err != nil {
			return nil, fmt.Errorf("group %d: damaged raft entry %d: %w", l.group, next, err)
		}
		if e.Index != next {
			return nil, fmt.Errorf("group %d: raft log gap: want entry %d, found %d", l.group, next, e.Index)
		}
		size += uint64(e.Size())
		if len(out) > 0 && size > maxSize {
			break
		}
		out = append(out, e)
		next++
	}
	if err := it.Error(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, raft.ErrUnavailable
	}
	return out, nil
}

// Save writes the durable parts of a Ready into b: a snapshot's metadata
// (which discards the whole log), then entries (replacing any conflicting
// suffix), then the hard state. In-memory state is updated at once; the
// caller must commit b before calling Advance on the raft node, and must
// stop using the group if the commit fails.
func (l *Log) Save(b *pebble.Batch, hs raftpb.HardState, ents []raftpb.Entry, snap raftpb.Snapshot) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !raft.IsEmptySnap(snap) {
		if err := l.applySnapshotLocked(b, snap.Metadata); err != nil {
			return err
		}
	}
	if len(ents) > 0 {
		if err := l.appendLocked(b, ents); err != nil {
			return err
		}
	}
	if !raft.IsEmptyHardState(hs) {
		if err := setProto(b, storage.RaftHardStateKey(l.group), &hs); err != nil {
			return err
		}
		l.hs = hs
	}
	return nil
}

func (l *Log) appendLocked(b *pebble.Batch, ents []raftpb.Entry) error {
	first := ents[0].Index
	if first < l.first {
		return fmt.Errorf("group %d: append at %d below first index %d", l.group, first, l.first)
	}
	if first > l.last+1 {
		return fmt.Errorf("group %d: append at %d leaves a gap after %d", l.group, first, l.last)
	}
	if first <= l.last { // conflicting suffix
		l.forgetTrimmedFrom(first)
		if err := b.DeleteRange(storage.RaftEntryKey(l.group, first), storage.RaftEntryKey(l.group, l.last+1), nil); err != nil {
			return err
		}
		if len(l.cache) > 0 && first > l.cache[0].Index {
			l.cache = l.cache[:first-l.cache[0].Index]
		} else {
			l.cache = nil
		}
		l.recountCache()
	}
	buf := make([]byte, 0, 256)
	for i := range ents {
		e := &ents[i]
		n := e.Size()
		if cap(buf) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := e.MarshalTo(buf); err != nil {
			return fmt.Errorf("group %d: encoding entry %d: %w", l.group, e.Index, err)
		}
		if err := b.Set(storage.RaftEntryKey(l.group, e.Index), buf, nil); err != nil {
			return err
		}
		l.cache = append(l.cache, *e)
		l.cacheBytes += n
	}
	l.last = ents[len(ents)-1].Index
	for l.cacheBytes > cacheMaxBytes && len(l.cache) > 1 {
		l.cacheBytes -= l.cache[0].Size()
		l.cache = l.cache[1:]
	}
	return nil
}

func (l *Log) recountCache() {
	l.cacheBytes = 0
	for i := range l.cache {
		l.cacheBytes += l.cache[i].Size()
	}
}

func (l *Log) applySnapshotLocked(b *pebble.Batch, meta raftpb.SnapshotMetadata) error {
	if meta.Index <= l.snap.Index {
		return nil
	}
	p := storage.RaftEntryKey(l.group, 0)
	if err := b.DeleteRange(p, storage.RaftEntryKey(l.group, ^uint64(0)), nil); err != nil {
		return err
	}
	if err := setProto(b, storage.RaftSnapshotKey(l.group), &meta); err != nil {
		return err
	}
	if err := setProto(b, storage.RaftConfStateKey(l.group), &meta.ConfState); err != nil {
		return err
	}
	l.snap, l.cs = meta, meta.ConfState
	l.first, l.last = meta.Index+1, meta.Index
	l.cache, l.cacheBytes = nil, 0
	l.trimmed, l.trimmedTo = nil, 0
	return nil
}

// SetConfState records the ConfState established by applied entries; it
// belongs in the same batch as the applied index.
func (l *Log) SetConfState(b *pebble.Batch, cs raftpb.ConfState) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cs = cs
	return setProto(b, storage.RaftConfStateKey(l.group), &cs)
}

// Compact discards entries up to and including index, which must be
// applied and durable in the state machine. The caller commits b.
func (l *Log) Compact(b *pebble.Batch, index uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if index <= l.snap.Index {
		return nil
	}
	if index > l.last {
		return fmt.Errorf("group %d: compact to %d beyond last index %d", l.group, index, l.last)
	}
	term := l.snap.Term
	if e, ok := l.cached(index); ok {
		term = e.Term
	} else {
		ents, err := l.load(index, index+1, 0)
		if err != nil {
			return err
		}
		term = ents[0].Term
	}
	meta := raftpb.SnapshotMetadata{Index: index, Term: term, ConfState: l.cs}
	if err := b.DeleteRange(storage.RaftEntryKey(l.group, 0), storage.RaftEntryKey(l.group, index+1), nil); err != nil {
		return err
	}
	if err := setProto(b, storage.RaftSnapshotKey(l.group), &meta); err != nil {
		return err
	}
	l.snap = meta
	l.first = index + 1
	if len(l.cache) > 0 && l.cache[0].Index <= index {
		drop := min(index+1-l.cache[0].Index, uint64(len(l.cache)))
		l.cache = l.cache[drop:]
		l.recountCache()
	}
	return nil
}

// TrimCache drops cached entries up to index (already applied), keeping
// memory bounded for groups that apply quickly.
func (l *Log) TrimCache(index uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for len(l.cache) > 0 && l.cache[0].Index <= index {
		l.noteTrimmed(l.cache[0].Index, l.cache[0].Term)
		l.cacheBytes -= l.cache[0].Size()
		l.cache = l.cache[1:]
	}
}

// noteTrimmed extends the runs with the entry at index, of term.
func (l *Log) noteTrimmed(index, term uint64) {
	n := len(l.trimmed)
	switch {
	case n > 0 && l.trimmedTo+1 != index:
		l.trimmed = append(l.trimmed[:0], termRun{index, term}) // a gap: start over
	case n > 0 && l.trimmed[n-1].term == term:
	case n == maxTermRuns:
		l.trimmed = append(l.trimmed[:0], l.trimmed[1:]...)
		l.trimmed = append(l.trimmed, termRun{index, term})
	default:
		l.trimmed = append(l.trimmed, termRun{index, term})
	}
	l.trimmedTo = index
}

// Stats returns the first and last index and the hard state.
func (l *Log) Stats() (first, last uint64, hs raftpb.HardState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.first, l.last, l.hs
}

type protoMsg interface {
	Marshal() ([]byte, error)
	Unmarshal([]byte) error
}

func getProto(db *storage.DB, key []byte, m protoMsg) error {
	v, closer, err := db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	defer closer.Close()
	return m.Unmarshal(v)
}

func setProto(b *pebble.Batch, key []byte, m protoMsg) error {
	v, err := m.Marshal()
	if err != nil {
		return err
	}
	return b.Set(key, v, nil)
}

// ConfState returns the ConfState established by the applied entries.
func (l *Log) ConfState() raftpb.ConfState {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cs
}
