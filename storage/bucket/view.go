package bucket

import (
	"encoding/json"
	"errors"
	"slices"

	"github.com/cockroachdb/pebble/v2"
)

// View is a read-only view of a bucket's committed state. A snapshot view
// (State.Snapshot) is consistent across all its reads; a live view
// (State.Live) reads the newest committed data on every call.
type View struct {
	s     *State
	r     pebble.Reader
	snap  *pebble.Snapshot
	live  bool
	Stats Stats
	Cfg   Config
	// Version of a live view: the number of changes committed before it
	// was taken. Live views of one version saw the same committed state.
	Version uint64
}

// Snapshot returns a consistent view. Its Stats and Cfg are read from the
// snapshot itself (they are written in the same batch as the data), so
// they describe exactly the revisions it holds and a caller can continue
// live from Stats.Last+1 without gaps or duplicates. Close it.
func (s *State) Snapshot() *View {
	// Taken before the snapshot, these are never newer than it; they stand
	// in for a group that has not applied anything yet.
	v := &View{s: s, Stats: s.quickStats(), Cfg: s.Config()}
	v.snap = s.db.NewSnapshot()
	v.r = v.snap
	if val, closer, err := v.snap.Get(s.k.state()); err == nil {
		var st Stats
		if st.decode(val) == nil && st.Applied >= v.Stats.Applied {
			v.Stats = st
		}
		closer.Close()
	}
	if val, closer, err := v.snap.Get(s.k.config()); err == nil {
		var c Config
		if json.Unmarshal(val, &c) == nil && c.Name != "" {
			v.Cfg = c
		}
		closer.Close()
	}
	return v
}

// Live returns a view that reads the newest committed data. Its Stats may
// be older than what it reads (Pebble holds a batch before the counters
// are published), so only Get and Scan are bounded by Stats.Last.
func (s *State) Live() *View {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return &View{s: s, r: s.db.DB, live: true, Stats: s.stats, Cfg: s.cfg, Version: s.version}
}

// consistent returns a reader on which several reads see one state: the
// view's snapshot, or for a live view a short-lived snapshot.
func (v *View) consistent() (pebble.Reader, func()) {
	if !v.live {
		return v.r, func() {}
	}
	snap := v.s.db.NewSnapshot()
	return snap, func() { _ = snap.Close() }
}

// LastSeq returns the last assigned revision (cheap).
func (s *State) LastSeq() uint64 { return s.quickStats().Last }

// Close releases the view's snapshot.
func (v *View) Close() {
	if v.snap != nil {
		_ = v.snap.Close()
		v.snap = nil
	}
}

// Get returns the revision seq, or ErrNotFound.
func (v *View) Get(seq uint64) (*Msg, error) {
	if seq == 0 || seq > v.Stats.Last {
		return nil, ErrNotFound
	}
	return v.s.getMsg(v.r, seq)
}

// Last returns the newest revision of key (possibly a delete or purge
// marker), or ErrNotFound.
func (v *View) Last(key string) (*Msg, error) {
	// The key record and the message are two reads. On a live view a
	// write between them may remove the message (history roll-off,
	// purge); then the record has moved on, so read it again. After a few
	// such races, read both from one snapshot.
	for range 3 {
		m, err := v.last(v.r, key)
		if !v.live || !errors.Is(err, errRaced) {
			return m, err
		}
	}
	r, done := v.consistent()
	defer done()
	return v.last(r, key)
}

// errRaced: a message named by a key record was gone when read.
var errRaced = errors.New("key record changed while reading")

func (v *View) last(r pebble.Reader, key string) (*Msg, error) {
	rec, err := v.s.keyRecordOf(r, key)
	if err != nil {
		return nil, err
	}
	if len(rec.revs) == 0 {
		return nil, ErrNotFound
	}
	m, err := v.s.getMsg(r, rec.latest().Seq)
	if errors.Is(err, ErrNotFound) {
		return nil, errRaced
	}
	return m, err
}

// History returns every stored revision of key, oldest first.
func (v *View) History(key string) ([]*Msg, error) {
	r, done := v.consistent()
	defer done()
	revs, err := v.s.keyRevs(r, key)
	if err != nil {
		return nil, err
	}
	out := make([]*Msg, 0, len(revs))
	for _, rv := range revs {
		if !v.live && rv.Seq > v.Stats.Last {
			break
		}
		m, err := v.s.getMsg(r, rv.Seq)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// NextMatching returns the first revision at or after seq whose key
// matches filter, or ErrNotFound.
func (v *View) NextMatching(filter string, seq uint64) (*Msg, error) {
	var found *Msg
	err := v.Scan(max(seq, 1), func(m *Msg) bool {
		if MatchFilter(filter, m.Key) {
			found = m
			return false
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	if found == nil {
		return nil, ErrNotFound
	}
	return found, nil
}

// LatestEntry is a key's newest revision as the latest index records it.
type LatestEntry struct {
	Key string
	Seq uint64
	Op  Op
}

// Latest returns the newest revision of every key matching any filter (no
// filters: all keys), in ascending revision order.
func (v *View) Latest(filters []string) ([]LatestEntry, error) {
	if len(filters) == 0 {
		filters = []string{">"}
	}
	var out []LatestEntry
	seen := map[string]bool{}
	for _, f := range filters {
		err := v.s.forLatest(v.r, f, func(key string, rec keyRecord) bool {
			l := rec.latest()
			seq, op := l.Seq, l.Op
			if (v.live || seq <= v.Stats.Last) && (len(filters) == 1 || !seen[key]) {
				if len(filters) > 1 {
					seen[key] = true
				}
				out = append(out, LatestEntry{Key: key, Seq: seq, Op: op})
			}
			return true
		})
		if err != nil {
			return nil, err
		}
	}
	slices.SortFunc(out, func(a, b LatestEntry) int {
		switch {
		case a.Seq < b.Seq:
			return -1
		case a.Seq > b.Seq:
			return 1
		}
		return 0
	})
	return out, nil
}

// SeqsFrom returns every revision at or after start whose key matches any
// filter, in ascending order.
func (v *View) SeqsFrom(filters []string, start uint64) ([]uint64, error) {
	all := len(filters) == 0
	for _, f := range filters {
		all = all || f == ">"
	}
	var out []uint64
	if all || len(filters) > 1 {
		err := v.s.scanMeta(v.r, max(start, 1), func(m *Msg) bool {
			if m.Seq > v.Stats.Last {
				return false
			}
			if all || MatchAny(filters, m.Key) {
				out = append(out, m.Seq)
			}
			return true
		})
		return out, err
	}
	revs, err := v.s.matchingRevs(v.r, filters[0])
	if err != nil {
		return nil, err
	}
	for _, r := range revs {
		if r.seq >= start && r.seq <= v.Stats.Last {
			out = append(out, r.seq)
		}
	}
	return out, nil
}

// Scan calls fn with every revision from seq on, in order, until fn
// returns false or the view's last revision is passed.
func (v *View) Scan(from uint64, fn func(m *Msg) bool) error {
	it, err := v.r.NewIter(&pebble.IterOptions{LowerBound: v.s.k.msg(max(from, 1)), UpperBound: v.s.k.msg(v.Stats.Last + 1)})
	if err != nil {
		return err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		m, err := decodeMsg(seqOf(it.Key()), it.Value())
		if err != nil {
			return err
		}
		if !fn(m) {
			break
		}
	}
	return it.Error()
}
