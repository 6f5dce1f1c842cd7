package raftlog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"

	"github.com/cairnkv/cairn/storage"
	"github.com/cockroachdb/pebble/v2"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
)

func openDB(t *testing.T, dir string) *storage.DB {
	t.Helper()
	db, err := storage.Open(storage.Options{Dir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), CacheBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// model is the expected state of a log: what raft.MemoryStorage would
// hold, plus the hard state and conf state.
type model struct {
	snap raftpb.SnapshotMetadata
	ents []raftpb.Entry // consecutive, starting at snap.Index+1
	hs   raftpb.HardState
	cs   raftpb.ConfState
}

func (m *model) first() uint64 { return m.snap.Index + 1 }
func (m *model) last() uint64  { return m.snap.Index + uint64(len(m.ents)) }

func (m *model) append(ents []raftpb.Entry) {
	keep := ents[0].Index - m.first()
	m.ents = append(slices.Clone(m.ents[:keep]), ents...)
}

func (m *model) compact(i uint64) {
	if i <= m.snap.Index {
		return
	}
	e := m.ents[i-m.first()]
	m.ents = slices.Clone(m.ents[i-m.first()+1:])
	m.snap = raftpb.SnapshotMetadata{Index: i, Term: e.Term, ConfState: m.cs}
}

// limit is raft's contract for Storage.Entries' maxSize: the longest
// prefix whose total size is within maxSize, but at least one entry.
func limit(ents []raftpb.Entry, maxSize uint64) []raftpb.Entry {
	size := uint64(ents[0].Size())
	for n := 1; n < len(ents); n++ {
		size += uint64(ents[n].Size())
		if size > maxSize {
			return ents[:n]
		}
	}
	return ents
}

func ents(term, lo, hi uint64, size int) []raftpb.Entry {
	var out []raftpb.Entry
	for i := lo; i <= hi; i++ {
		data := bytes.Repeat([]byte{byte(i)}, size)
		copy(data, fmt.Sprintf("t%d-i%d", term, i))
		out = append(out, raftpb.Entry{Term: term, Index: i, Type: raftpb.EntryNormal, Data: data})
	}
	return out
}

func entsEqual(a, b []raftpb.Entry) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Index != b[i].Index || a[i].Term != b[i].Term || a[i].Type != b[i].Type || !bytes.Equal(a[i].Data, b[i].Data) {
			return false
		}
	}
	return true
}

func describe(es []raftpb.Entry) string {
	if len(es) == 0 {
		return "[]"
	}
	return fmt.Sprintf("[%d entries %d/%d..%d/%d]", len(es), es[0].Index, es[0].Term, es[len(es)-1].Index, es[len(es)-1].Term)
}

// check compares every observable of l with m, and the cache's
// invariants.
func check(t *testing.T, where string, l *Log, m *model) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%s: %s", where, fmt.Sprintf(format, args...))
	}
	if f, _ := l.FirstIndex(); f != m.first() {
		fail("FirstIndex %d, want %d", f, m.first())
	}
	if la, _ := l.LastIndex(); la != m.last() {
		fail("LastIndex %d, want %d", la, m.last())
	}
	first, last, hs := l.Stats()
	if first != m.first() || last != m.last() || !raft.IsEmptyHardState(hs) && hs != m.hs {
		fail("Stats %d %d %+v", first, last, hs)
	}
	hs, cs, err := l.InitialState()
	if err != nil || hs != m.hs || !slices.Equal(cs.Voters, m.cs.Voters) || !slices.Equal(cs.Learners, m.cs.Learners) {
		fail("InitialState %+v %+v %v, want %+v %+v", hs, cs, err, m.hs, m.cs)
	}
	snap, err := l.Snapshot()
	if err != nil || snap.Metadata.Index != m.snap.Index || snap.Metadata.Term != m.snap.Term ||
		!slices.Equal(snap.Metadata.ConfState.Voters, m.snap.ConfState.Voters) {
		fail("Snapshot %+v %v, want %+v", snap.Metadata, err, m.snap)
	}
	// Term at every boundary.
	if term, err := l.Term(m.snap.Index); err != nil || term != m.snap.Term {
		fail("Term(%d) (snapshot index) = %d, %v; want %d", m.snap.Index, term, err, m.snap.Term)
	}
	if m.snap.Index > 0 {
		if _, err := l.Term(m.snap.Index - 1); !errors.Is(err, raft.ErrCompacted) {
			fail("Term(%d) below the snapshot: %v, want ErrCompacted", m.snap.Index-1, err)
		}
	}
	if _, err := l.Term(m.last() + 1); !errors.Is(err, raft.ErrUnavailable) {
		fail("Term(%d) past the end: %v, want ErrUnavailable", m.last()+1, err)
	}
	for _, e := range m.ents {
		if term, err := l.Term(e.Index); err != nil || term != e.Term {
			fail("Term(%d) = %d, %v; want %d", e.Index, term, err, e.Term)
		}
	}
	// Entries: errors at the boundaries.
	if _, err := l.Entries(m.snap.Index, m.last()+1, 0); !errors.Is(err, raft.ErrCompacted) {
		fail("Entries from the snapshot index: %v, want ErrCompacted", err)
	}
	if _, err := l.Entries(m.first(), m.last()+2, 0); !errors.Is(err, raft.ErrUnavailable) {
		fail("Entries past the end: %v, want ErrUnavailable", err)
	}
	// Every range, with sizes from "one entry" to "unlimited".
	total := uint64(0)
	for _, e := range m.ents {
		total += uint64(e.Size())
	}
	var one uint64
	if len(m.ents) > 0 {
		one = uint64(m.ents[0].Size())
	}
	sizes := []uint64{0, 1, one, one + 1, 2*one + 1, total / 2, total, ^uint64(0)}
	// Every range of a short log; of a long one, ranges between points
	// around the ends, the middle and the start of the cache. Large logs
	// (slow to read under the race detector) get fewer sizes.
	type rng struct{ lo, hi uint64 }
	var ranges []rng
	var points []uint64
	if len(m.ents) <= 12 && total <= 1<<16 {
		for i := m.first(); i <= m.last()+1; i++ {
			points = append(points, i)
		}
	} else {
		l.mu.Lock()
		cacheStart := m.last() + 1
		if len(l.cache) > 0 {
			cacheStart = l.cache[0].Index
		}
		l.mu.Unlock()
		mid := m.first() + uint64(len(m.ents))/2
		for _, p := range []uint64{m.first(), m.first() + 1, mid, mid + 1, cacheStart - 1, cacheStart, cacheStart + 1, m.last(), m.last() + 1} {
			if p >= m.first() && p <= m.last()+1 && !slices.Contains(points, p) {
				points = append(points, p)
			}
		}
		slices.Sort(points)
		if total > 1<<16 {
			sizes = []uint64{0, one + 1, ^uint64(0)}
		}
	}
	for _, lo := range points {
		for _, hi := range points {
			if lo < hi && (total <= 1<<16 || hi == lo+1 || hi == lo+2 || lo == m.first() && hi == m.last()+1) {
				ranges = append(ranges, rng{lo, hi})
			}
		}
	}
	for _, r := range ranges {
		{
			lo, hi := r.lo, r.hi
			want := m.ents[lo-m.first() : hi-m.first()]
			for _, max := range sizes {
				got, err := l.Entries(lo, hi, max)
				if err != nil {
					fail("Entries(%d, %d, %d): %v", lo, hi, max, err)
				}
				if w := limit(want, max); !entsEqual(got, w) {
					fail("Entries(%d, %d, %d) = %s, want %s", lo, hi, max, describe(got), describe(w))
				}
			}
		}
	}
	// The cache: consecutive entries ending at last, byte count exact
	// and bounded.
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for i, e := range l.cache {
		n += e.Size()
		if e.Index != l.last-uint64(len(l.cache)-1-i) {
			fail("cache entry %d has index %d; cache is not a suffix ending at %d", i, e.Index, l.last)
		}
		if want := m.ents[e.Index-m.first()]; !entsEqual([]raftpb.Entry{e}, []raftpb.Entry{want}) {
			fail("cache entry %d differs from the log", e.Index)
		}
	}
	if n != l.cacheBytes {
		fail("cacheBytes %d, cached entries add up to %d", l.cacheBytes, n)
	}
	if l.cacheBytes > cacheMaxBytes && len(l.cache) > 1 {
		fail("cache holds %d bytes in %d entries, limit %d", l.cacheBytes, len(l.cache), cacheMaxBytes)
	}
}

// step is one change to a log.
type step struct {
	name string
	// do changes l in b and m; it returns an error only when the test
	// expects one (checked by wantErr).
	do      func(l *Log, b *pebble.Batch, m *model) error
	wantErr bool
}

func save(hs raftpb.HardState, es []raftpb.Entry) func(*Log, *pebble.Batch, *model) error {
	return func(l *Log, b *pebble.Batch, m *model) error {
		if err := l.Save(b, hs, es, raftpb.Snapshot{}); err != nil {
			return err
		}
		if len(es) > 0 {
			m.append(es)
		}
		if !raft.IsEmptyHardState(hs) {
			m.hs = hs
		}
		return nil
	}
}

func appendEnts(term, lo, hi uint64, size int) step {
	return step{name: fmt.Sprintf("append %d..%d term %d", lo, hi, term), do: save(raftpb.HardState{}, ents(term, lo, hi, size))}
}

func hardState(term, vote, commit uint64) step {
	return step{name: fmt.Sprintf("hard state %d/%d/%d", term, vote, commit), do: save(raftpb.HardState{Term: term, Vote: vote, Commit: commit}, nil)}
}

func compact(i uint64) step {
	return step{name: fmt.Sprintf("compact %d", i), do: func(l *Log, b *pebble.Batch, m *model) error {
		if err := l.Compact(b, i); err != nil {
			return err
		}
		m.compact(i)
		return nil
	}}
}

func badStep(name string, do func(l *Log, b *pebble.Batch, m *model) error) step {
	return step{name: name, do: do, wantErr: true}
}

func snapshot(index, term uint64, voters ...uint64) step {
	return step{name: fmt.Sprintf("snapshot %d/%d", index, term), do: func(l *Log, b *pebble.Batch, m *model) error {
		meta := raftpb.SnapshotMetadata{Index: index, Term: term, ConfState: raftpb.ConfState{Voters: voters}}
		if err := l.Save(b, raftpb.HardState{}, nil, raftpb.Snapshot{Metadata: meta}); err != nil {
			return err
		}
		if index > m.snap.Index {
			m.snap, m.ents, m.cs = meta, nil, meta.ConfState
		}
		return nil
	}}
}

func confState(voters ...uint64) step {
	return step{name: fmt.Sprintf("conf state %v", voters), do: func(l *Log, b *pebble.Batch, m *model) error {
		cs := raftpb.ConfState{Voters: voters}
		if err := l.SetConfState(b, cs); err != nil {
			return err
		}
		m.cs = cs
		return nil
	}}
}

func trimCache(i uint64) step {
	return step{name: fmt.Sprintf("trim cache to %d", i), do: func(l *Log, b *pebble.Batch, m *model) error {
		l.TrimCache(i)
		return nil
	}}
}

func TestLog(t *testing.T) {
	const group storage.GroupID = 7
	const big = 1 << 20 // entries of 1 MiB: nine overflow the cache
	cases := []struct {
		name      string
		bootstrap []uint64 // voters; nil: start with no raft state
		steps     []step
		// big: megabytes of entries, slow to check under the race
		// detector; run on the live log only (still checked against a
		// reopened twin after every step).
		big bool
	}{
		{
			name: "empty log",
		},
		{
			name:      "bootstrapped log",
			bootstrap: []uint64{1, 2, 3},
		},
		{
			name:      "append",
			bootstrap: []uint64{1},
			steps: []step{
				appendEnts(1, 2, 2, 10),
				appendEnts(1, 3, 10, 10),
				hardState(1, 1, 10),
				appendEnts(2, 11, 40, 100),
			},
		},
		{
			name: "append to a log without bootstrap",
			steps: []step{
				appendEnts(1, 1, 5, 10),
				hardState(1, 0, 3),
			},
		},
		{
			name:      "overwrite a conflicting suffix",
			bootstrap: []uint64{1},
			steps: []step{
				appendEnts(1, 2, 20, 10),
				appendEnts(2, 15, 17, 20), // replaces 15..20 by 15..17
				appendEnts(3, 18, 25, 5),
				appendEnts(4, 2, 3, 5), // replaces everything
				appendEnts(4, 4, 4, 5),
			},
		},
		{
			name:      "overwrite the last entry only",
			bootstrap: []uint64{1},
			steps: []step{
				appendEnts(1, 2, 9, 10),
				appendEnts(2, 9, 9, 10),
			},
		},
		{
			name:      "append rejected: gap or below first",
			bootstrap: []uint64{1},
			steps: []step{
				appendEnts(1, 2, 9, 10),
				badStep("append leaving a gap", save(raftpb.HardState{}, ents(1, 11, 12, 10))),
				compact(5),
				badStep("append below the first index", save(raftpb.HardState{}, ents(2, 4, 12, 10))),
				appendEnts(2, 6, 12, 10), // still fine above the snapshot
			},
		},
		{
			name:      "compact",
			bootstrap: []uint64{1, 2},
			steps: []step{
				appendEnts(1, 2, 30, 10),
				compact(10),
				compact(10), // no-op
				compact(5),  // below: no-op
				appendEnts(2, 31, 35, 10),
				compact(35), // everything
				appendEnts(3, 36, 40, 10),
				badStep("compact beyond last", func(l *Log, b *pebble.Batch, m *model) error { return l.Compact(b, 41) }),
			},
		},
		{
			name:      "compact then overwrite",
			bootstrap: []uint64{1},
			steps: []step{
				appendEnts(1, 2, 20, 10),
				compact(8),
				appendEnts(2, 9, 12, 10),
			},
		},
		{
			name:      "conf state carried by compaction",
			bootstrap: []uint64{1},
			steps: []step{
				appendEnts(1, 2, 10, 10),
				confState(1, 2, 3),
				compact(6),
				confState(1, 2),
			},
		},
		{
			name:      "snapshot discards the log",
			bootstrap: []uint64{1},
			steps: []step{
				appendEnts(1, 2, 10, 10),
				snapshot(50, 3, 1, 2, 3),
				appendEnts(3, 51, 55, 10),
				snapshot(20, 2, 1), // older: ignored
				hardState(3, 1, 55),
			},
		},
		{
			name:      "cache trimming",
			bootstrap: []uint64{1},
			steps: []step{
				appendEnts(1, 2, 13, big), // 12 MiB: the cache keeps ~8
				appendEnts(1, 14, 14, 10),
				trimCache(13),
				appendEnts(2, 10, 12, big/2), // overwrite below the cache
				trimCache(100),               // beyond last: empties it
				appendEnts(2, 13, 20, 10),
				trimCache(15),
				compact(17),
			},
			big: true,
		},
		{
			name:      "compact beyond the cache",
			bootstrap: []uint64{1},
			steps: []step{
				appendEnts(1, 2, 12, big),
				compact(3), // term read from disk
				trimCache(12),
				compact(12),
			},
			big: true,
		},
	}
	for _, tc := range cases {
		// continueReopened: every step works on a freshly opened log (an
		// empty cache, state read back from Pebble); otherwise on the
		// live log, checked against a reopened twin after each step.
		for _, continueReopened := range []bool{false, true} {
			if tc.big && continueReopened {
				continue
			}
			t.Run(fmt.Sprintf("%s/reopened=%v", tc.name, continueReopened), func(t *testing.T) {
				dir := t.TempDir()
				db := openDB(t, dir)
				defer func() { db.Close() }()
				m := &model{}
				if tc.bootstrap != nil {
					b := db.NewBatch()
					if err := Bootstrap(b, group, tc.bootstrap); err != nil {
						t.Fatal(err)
					}
					if err := b.Commit(db.Durable()); err != nil {
						t.Fatal(err)
					}
					m.snap = raftpb.SnapshotMetadata{Index: 1, Term: 1, ConfState: raftpb.ConfState{Voters: tc.bootstrap}}
					m.hs = raftpb.HardState{Term: 1, Commit: 1}
					m.cs = m.snap.ConfState
				}
				l, err := Open(db, group)
				if err != nil {
					t.Fatal(err)
				}
				check(t, "open", l, m)
				for i, s := range tc.steps {
					where := fmt.Sprintf("step %d (%s)", i, s.name)
					b := db.NewBatch()
					err := s.do(l, b, m)
					if s.wantErr {
						b.Close()
						if err == nil {
							t.Fatalf("%s: succeeded, want an error", where)
						}
						check(t, where+" after its error", l, m)
						continue
					}
					if err != nil {
						t.Fatalf("%s: %v", where, err)
					}
					if err := b.Commit(db.Durable()); err != nil {
						t.Fatal(err)
					}
					b.Close()
					check(t, where, l, m)
					re, err := Open(db, group)
					if err != nil {
						t.Fatalf("%s: reopen: %v", where, err)
					}
					check(t, where+", reopened", re, m)
					if continueReopened {
						l = re
					}
				}
				// And after closing and reopening the database itself.
				db.Close()
				db = openDB(t, dir)
				l, err = Open(db, group)
				if err != nil {
					t.Fatal(err)
				}
				check(t, "database reopened", l, m)
			})
		}
	}
}

func TestBootstrapExistsDestroy(t *testing.T) {
	db := openDB(t, t.TempDir())
	defer db.Close()
	groups := []storage.GroupID{0, 1, 2, 1 << 40, ^storage.GroupID(0)}
	commit := func(f func(b *pebble.Batch) error) {
		t.Helper()
		b := db.NewBatch()
		defer b.Close()
		if err := f(b); err != nil {
			t.Fatal(err)
		}
		if err := b.Commit(db.Durable()); err != nil {
			t.Fatal(err)
		}
	}
	exists := func(g storage.GroupID) bool {
		t.Helper()
		ok, err := Exists(db, g)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	for _, g := range groups {
		if exists(g) {
			t.Fatalf("group %d exists before bootstrap", g)
		}
	}
	for i, g := range groups {
		voters := []uint64{uint64(i) + 1, 100}
		commit(func(b *pebble.Batch) error { return Bootstrap(b, g, voters) })
		l, err := Open(db, g)
		if err != nil {
			t.Fatal(err)
		}
		hs, cs, _ := l.InitialState()
		if hs != (raftpb.HardState{Term: 1, Commit: 1}) || !slices.Equal(cs.Voters, voters) {
			t.Fatalf("group %d bootstrapped to %+v %+v", g, hs, cs)
		}
		if f, _ := l.FirstIndex(); f != 2 {
			t.Fatalf("group %d first index %d", g, f)
		}
		if term, err := l.Term(1); term != 1 || err != nil {
			t.Fatalf("group %d Term(1) %d %v", g, term, err)
		}
		commit(func(b *pebble.Batch) error {
			return l.Save(b, raftpb.HardState{}, ents(1, 2, 5, 10), raftpb.Snapshot{})
		})
	}
	// Destroy the groups one by one; the others keep everything.
	for i, g := range groups {
		commit(func(b *pebble.Batch) error { return Destroy(b, g) })
		if exists(g) {
			t.Fatalf("group %d exists after Destroy", g)
		}
		l, err := Open(db, g)
		if err != nil {
			t.Fatal(err)
		}
		if f, la, hs := l.Stats(); f != 1 || la != 0 || !raft.IsEmptyHardState(hs) {
			t.Fatalf("destroyed group %d opens as %d..%d %+v", g, f, la, hs)
		}
		for _, other := range groups[i+1:] {
			if !exists(other) {
				t.Fatalf("destroying group %d removed group %d", g, other)
			}
			l, err := Open(db, other)
			if err != nil {
				t.Fatal(err)
			}
			got, err := l.Entries(2, 6, ^uint64(0))
			if err != nil || !entsEqual(got, ents(1, 2, 5, 10)) {
				t.Fatalf("group %d after destroying %d: %s %v", other, g, describe(got), err)
			}
		}
	}
}
