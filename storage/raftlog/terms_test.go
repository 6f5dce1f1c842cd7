package raftlog

import (
	"testing"

	"github.com/cairnkv/cairn/storage"
	"github.com/cockroachdb/pebble/v2"
	"go.etcd.io/raft/v3/raftpb"
)

// The terms of applied entries, trimmed from the cache, are answered
// from memory (raft asks the commit index's term on every read index
// request): here the entries are gone from Pebble behind the log's back
// and their terms are still known. Entries replaced by a conflicting
// append are not answered from what was remembered of them, and only
// the last maxTermRuns runs are remembered.
func TestTermsOfTrimmedEntries(t *testing.T) {
	const group storage.GroupID = 7
	db := openDB(t, t.TempDir())
	defer db.Close()
	l, err := Open(db, group)
	if err != nil {
		t.Fatal(err)
	}
	commit := func(f func(b *pebble.Batch) error) {
		t.Helper()
		b := db.NewBatch()
		if err := f(b); err != nil {
			t.Fatal(err)
		}
		if err := b.Commit(pebble.Sync); err != nil {
			t.Fatal(err)
		}
	}
	appendEntries := func(es []raftpb.Entry) {
		commit(func(b *pebble.Batch) error { return l.Save(b, raftpb.HardState{}, es, raftpb.Snapshot{}) })
	}
	dropFromDisk := func() {
		commit(func(b *pebble.Batch) error {
			return b.DeleteRange(storage.RaftEntryKey(group, 0), storage.RaftEntryKey(group, ^uint64(0)), nil)
		})
	}
	wantTerms := func(want map[uint64]uint64) {
		t.Helper()
		for i, term := range want {
			if got, err := l.Term(i); err != nil || got != term {
				t.Errorf("Term(%d) = %d, %v; want %d", i, got, err, term)
			}
		}
	}

	appendEntries(ents(1, 1, 5, 10))
	appendEntries(ents(2, 6, 10, 10))
	appendEntries(ents(3, 11, 15, 10))
	l.TrimCache(15)
	dropFromDisk()
	wantTerms(map[uint64]uint64{1: 1, 5: 1, 6: 2, 10: 2, 11: 3, 15: 3})

	// 13..15 replaced by term 4: the cache answers for them now, and once
	// trimmed again the runs say 4, not 3.
	appendEntries(ents(4, 13, 15, 10))
	l.TrimCache(15)
	dropFromDisk()
	wantTerms(map[uint64]uint64{12: 3, 13: 4, 15: 4, 1: 1})

	// Many short terms: only the last maxTermRuns runs are kept.
	for term := uint64(5); term < 5+maxTermRuns; term++ {
		i := 15 + (term-4)*2
		appendEntries(ents(term, i-1, i, 10))
	}
	last, _ := l.LastIndex()
	l.TrimCache(last)
	dropFromDisk()
	if _, err := l.Term(1); err == nil {
		t.Error("Term(1) answered after its run was forgotten and the entry is gone")
	}
	wantTerms(map[uint64]uint64{last: 4 + maxTermRuns, last - 1: 4 + maxTermRuns, last - 2: 3 + maxTermRuns})
}
