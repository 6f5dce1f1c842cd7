package bucket

import (
	"encoding/binary"
	"errors"
	"slices"

	"github.com/cairnkv/cairn/storage"
	"github.com/cockroachdb/pebble/v2"
)

// Low-level reads over any pebble.Reader (the DB, a snapshot, or the
// indexed batch being applied).

func (s *State) getMsg(r pebble.Reader, seq uint64) (*Msg, error) {
	v, closer, err := r.Get(s.k.msg(seq))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	return decodeMsg(seq, v)
}

// keyRevs returns the stored revisions of key, oldest first.
func (s *State) keyRevs(r pebble.Reader, key string) ([]keyRev, error) {
	rec, err := s.keyRecordOf(r, key)
	return rec.revs, err
}

// forLatest calls fn for every key with stored revisions that matches
// filter, in key order, with its record. It scans only the part of the key
// index that the filter's literal prefix allows.
func (s *State) forLatest(r pebble.Reader, filter string, fn func(key string, rec keyRecord) bool) error {
	prefix, literal := literalPrefix(filter)
	if literal {
		rec, err := s.keyRecordOf(r, filter)
		if err != nil || len(rec.revs) == 0 {
			return err
		}
		fn(filter, rec)
		return nil
	}
	lo := append(s.k.tag('l'), prefix...)
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: storage.PrefixEnd(lo)})
	if err != nil {
		return err
	}
	defer it.Close()
	base := len(s.k.tag('l'))
	for ok := it.First(); ok; ok = it.Next() {
		key := string(it.Key()[base:])
		if !MatchFilter(filter, key) {
			continue
		}
		rec, err := decodeKeyRecord(it.Value())
		if err != nil {
			return err
		}
		if !fn(key, rec) {
			break
		}
	}
	return it.Error()
}

type keySeq struct {
	key string
	seq uint64
}

func sortKeySeqs(v []keySeq) {
	slices.SortFunc(v, func(a, b keySeq) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
}

// matchingRevs returns every stored revision whose key matches filter ("":
// all), in ascending revision order.
func (s *State) matchingRevs(r pebble.Reader, filter string) ([]keySeq, error) {
	var out []keySeq
	if filter == "" || filter == ">" {
		err := s.scanMeta(r, 1, func(m *Msg) bool { out = append(out, keySeq{m.Key, m.Seq}); return true })
		return out, err
	}
	err := s.forLatest(r, filter, func(key string, rec keyRecord) bool {
		for _, v := range rec.revs {
			out = append(out, keySeq{key, v.Seq})
		}
		return true
	})
	sortKeySeqs(out)
	return out, err
}

// scanMeta calls fn with key, op, time and TTL of each stored revision from
// seq on, in order, until fn returns false.
func (s *State) scanMeta(r pebble.Reader, from uint64, fn func(m *Msg) bool) error {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: s.k.msg(max(from, 1)), UpperBound: storage.PrefixEnd(s.k.tag('m'))})
	if err != nil {
		return err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		m, err := decodeMsgMeta(seqOf(it.Key()), it.Value())
		if err != nil {
			return err
		}
		if !fn(m) {
			break
		}
	}
	return it.Error()
}

// dueRevs returns up to limit revisions whose max age or TTL has passed at
// now, ascending.
func (s *State) dueRevs(r pebble.Reader, now int64, limit int) ([]keySeq, error) {
	var out []keySeq
	if age := int64(s.workCfg.MaxAge); age > 0 {
		err := s.scanMeta(r, s.work.First, func(m *Msg) bool {
			if m.Time+age > now || len(out) >= limit {
				return false
			}
			out = append(out, keySeq{m.Key, m.Seq})
			return true
		})
		if err != nil {
			return nil, err
		}
	}
	lo := s.k.tag('x')
	hi := s.k.expiry(now+1, 0)
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	for ok := it.First(); ok && len(out) < 2*limit; ok = it.Next() {
		out = append(out, keySeq{string(it.Value()), seqOf(it.Key())})
	}
	if err := it.Error(); err != nil {
		return nil, err
	}
	sortKeySeqs(out)
	out = slices.CompactFunc(out, func(a, b keySeq) bool { return a.seq == b.seq })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// resolveFirst finds the exact first stored revision at or after the hint.
func (s *State) resolveFirst(r pebble.Reader, hint uint64) (uint64, int64, error) {
	var first uint64
	var t int64
	err := s.scanMeta(r, hint, func(m *Msg) bool {
		first, t = m.Seq, m.Time
		return false
	})
	return first, t, err
}

// NextExpiry returns the earliest time (unix ns) at which a revision
// expires, or 0 if none will. The leader uses it to schedule expiry.
func (s *State) NextExpiry() (int64, error) {
	cfg, st := s.Config(), s.Stats()
	var next int64
	if cfg.MaxAge > 0 && st.Msgs > 0 {
		next = st.FirstTime + int64(cfg.MaxAge)
	}
	lo := s.k.tag('x')
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: storage.PrefixEnd(lo)})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	if it.First() {
		k := it.Key()
		at := int64(binary.BigEndian.Uint64(k[len(k)-16:]))
		if next == 0 || at < next {
			next = at
		}
	}
	return next, it.Error()
}
