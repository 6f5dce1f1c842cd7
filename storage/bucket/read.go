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

func (s *State) latestEntry(r pebble.Reader, key string) (seq, count uint64, op Op, err error) {
	v, closer, err := r.Get(s.k.latest(key))
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, 0, 0, nil
	}
	if err != nil {
		return 0, 0, 0, err
	}
	defer closer.Close()
	seq, count, op = decodeLatest(v)
	return seq, count, op, nil
}

func (s *State) latestOf(r pebble.Reader, key string) (seq, count uint64, err error) {
	seq, count, _, err = s.latestEntry(r, key)
	return seq, count, err
}

func (s *State) keySeqs(r pebble.Reader, key string) ([]uint64, error) {
	p := s.k.histPrefix(key)
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: storage.PrefixEnd(p)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []uint64
	for ok := it.First(); ok; ok = it.Next() {
		out = append(out, seqOf(it.Key()))
	}
	return out, it.Error()
}

// lastOfKey returns the newest stored revision of key.
func (s *State) lastOfKey(r pebble.Reader, key string) (*Msg, error) {
	p := s.k.histPrefix(key)
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: storage.PrefixEnd(p)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	if !it.Last() {
		if err := it.Error(); err != nil {
			return nil, err
		}
		return nil, ErrNotFound
	}
	return s.getMsg(r, seqOf(it.Key()))
}

func (s *State) oldestOf(r pebble.Reader, key string) (*Msg, error) {
	p := s.k.histPrefix(key)
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: storage.PrefixEnd(p)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	if !it.First() {
		return nil, it.Error()
	}
	return s.getMsg(r, seqOf(it.Key()))
}

// nextSeq returns the first stored revision at or after from.
func (s *State) nextSeq(r pebble.Reader, from uint64) (uint64, bool, error) {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: s.k.msg(from), UpperBound: storage.PrefixEnd(s.k.tag('m'))})
	if err != nil {
		return 0, false, err
	}
	defer it.Close()
	if !it.First() {
		return 0, false, it.Error()
	}
	return seqOf(it.Key()), true, nil
}

// forLatest calls fn for every key with stored revisions that matches
// filter, in key order, with its latest entry. It scans only the part of
// the latest index that the filter's literal prefix allows.
func (s *State) forLatest(r pebble.Reader, filter string, fn func(key string, seq, count uint64, op Op) bool) error {
	prefix, literal := literalPrefix(filter)
	if literal {
		seq, count, op, err := s.latestEntry(r, filter)
		if err != nil || count == 0 {
			return err
		}
		fn(filter, seq, count, op)
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
		seq, count, op := decodeLatest(it.Value())
		if !fn(key, seq, count, op) {
			break
		}
	}
	return it.Error()
}

// matchingSeqs returns every stored revision whose key matches filter, in
// ascending order.
func (s *State) matchingSeqs(r pebble.Reader, filter string) ([]uint64, error) {
	if filter == "" || filter == ">" {
		var out []uint64
		err := s.scanMeta(r, 1, func(m *Msg) bool { out = append(out, m.Seq); return true })
		return out, err
	}
	if _, literal := literalPrefix(filter); literal {
		return s.keySeqs(r, filter)
	}
	var keys []string
	if err := s.forLatest(r, filter, func(key string, _, _ uint64, _ Op) bool {
		keys = append(keys, key)
		return true
	}); err != nil {
		return nil, err
	}
	var out []uint64
	for _, k := range keys {
		seqs, err := s.keySeqs(r, k)
		if err != nil {
			return nil, err
		}
		out = append(out, seqs...)
	}
	slices.Sort(out)
	return out, nil
}

// scanMeta calls fn with key, op, time and TTL of each stored revision from
// seq on, in order, until fn returns false.
func (s *State) scanMeta(r pebble.Reader, from uint64, fn func(m *Msg) bool) error {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: s.k.msg(from), UpperBound: storage.PrefixEnd(s.k.tag('m'))})
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

// dueSeqs returns up to limit revisions whose max age or TTL has passed at
// now, ascending.
func (s *State) dueSeqs(r pebble.Reader, now int64, limit int) ([]uint64, error) {
	var out []uint64
	if age := int64(s.workCfg.MaxAge); age > 0 {
		err := s.scanMeta(r, s.work.First, func(m *Msg) bool {
			if m.Time+age > now || len(out) >= limit {
				return false
			}
			out = append(out, m.Seq)
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
		out = append(out, seqOf(it.Key()))
	}
	if err := it.Error(); err != nil {
		return nil, err
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// NextExpiry returns the earliest time (unix ns) at which a revision
// expires, or 0 if none will. The leader uses it to schedule expiry.
func (s *State) NextExpiry() (int64, error) {
	s.mu.RLock()
	cfg, st := s.cfg, s.stats
	s.mu.RUnlock()
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
