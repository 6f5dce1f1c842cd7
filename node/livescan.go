package node

import (
	"sort"
	"sync"
	"sync/atomic"

	"github.com/cairnkv/cairn/storage/bucket"
)

// liveScans lets a bucket's cursors share their reads of its newest
// revisions. Every watcher of a bucket wakes on each commit and reads the
// revisions after its position; with many watchers at one position each
// read was the same storage scan, a third of a node's CPU with 100
// watchers (docs/benchmarks.md). The bucket keeps its last few scans of
// the committed state: a cursor whose position lies in one, at the same
// version of that state, takes the rest of it instead of scanning.
//
// What a cursor gets is what a scan of its own at that version would
// have returned: revisions removed by a later commit are only in it if
// they were stored when it was taken, as with a scan of its own.
type liveScans struct {
	mu    sync.Mutex
	kept  [liveScansKept]liveScan
	older int // next slot to reuse

	storageScans atomic.Uint64 // scans that read storage (for tests)
}

// liveScan is one scan of the revisions in [from, to].
type liveScan struct {
	valid   bool
	version uint64        // the live view's version it was taken at
	from    uint64        // first revision asked for
	to      uint64        // last revision it covers
	msgs    []*bucket.Msg // the revisions in [from, to] that exist, in order; never modified once stored
}

const (
	// liveScansKept: a cursor catching up reads a few scans' worth in a
	// row, and others behind it at the same version read the same ones.
	liveScansKept = 4
	// One scan stops at whichever bound it reaches first; a cursor
	// whose position is past it scans on from there.
	liveScanMsgs  = 1024
	liveScanBytes = 1 << 20
)

// scan returns the revisions of live view v from revision from on, in
// order (up to the bounds), and the last revision they cover: the caller
// continues after it. The messages are shared: callers must not modify
// them.
func (ls *liveScans) scan(v *bucket.View, from uint64) ([]*bucket.Msg, uint64, error) {
	ls.mu.Lock()
	for i := range ls.kept {
		s := &ls.kept[i]
		if s.valid && s.version == v.Version && from >= s.from && from <= s.to {
			msgs, to := s.msgs, s.to
			ls.mu.Unlock()
			i := sort.Search(len(msgs), func(i int) bool { return msgs[i].Seq >= from })
			return msgs[i:], to, nil
		}
	}
	ls.mu.Unlock()

	ls.storageScans.Add(1)
	var msgs []*bucket.Msg
	to, size := v.Stats.Last, 0
	err := v.Scan(from, func(m *bucket.Msg) bool {
		// Full slices: an append by one reader must not write into
		// spare capacity another reader shares.
		m.Header = m.Header[:len(m.Header):len(m.Header)]
		m.Data = m.Data[:len(m.Data):len(m.Data)]
		msgs = append(msgs, m)
		size += len(m.Key) + len(m.Header) + len(m.Data)
		if len(msgs) >= liveScanMsgs || size >= liveScanBytes {
			to = m.Seq
			return false
		}
		return true
	})
	if err != nil {
		return nil, 0, err
	}
	ls.mu.Lock()
	ls.keep(liveScan{valid: true, version: v.Version, from: from, to: to, msgs: msgs})
	ls.mu.Unlock()
	return msgs, to, nil
}

// keep stores s in place of a scan of an older version, else of the
// oldest kept. Called with mu held.
func (ls *liveScans) keep(s liveScan) {
	for i := range ls.kept {
		if k := &ls.kept[i]; !k.valid || k.version < s.version {
			*k = s
			return
		}
	}
	if ls.kept[ls.older].version > s.version {
		return // every kept scan is newer than this one
	}
	ls.kept[ls.older] = s
	ls.older = (ls.older + 1) % liveScansKept
}
