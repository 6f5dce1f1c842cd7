package node

import (
	"slices"
	"sort"
	"strings"

	"github.com/cairnkv/cairn/storage/bucket"
)

// refBucket is the reference model of one bucket for the model-based
// test: deliberately naive (a map of slices, no indexes, no storage) so
// that it is obviously correct. It follows the NATS KV semantics of
// shared/nats-kv.md §3-4:
//
//   - every successful write takes the next revision of the bucket;
//     a failed write takes none and changes nothing;
//   - each key keeps its newest `history` revisions (markers included);
//   - delete stores a DEL marker; purge stores a PURGE marker and drops
//     all earlier revisions of the key;
//   - create passes when the key has no revision or its newest is a
//     marker; update and conditional delete/purge pass when the key's
//     newest revision (0: none) equals the expected one.
type refBucket struct {
	name    string
	history int
	last    uint64
	keys    map[string][]refRev // stored revisions of each key, oldest first
}

type refRev struct {
	rev uint64
	key string
	op  Operation
	val []byte
	hdr int // header block length, for byte accounting
}

// refErr is an outcome kind the model predicts; the engine's errors are
// compared by kind (and actual revision where the message names one).
type refErr struct {
	kind   error  // nil: success
	actual uint64 // for wrong-last-revision outcomes: the key's newest revision
	index  int    // for batches: the failing operation (-1: not a batch)
}

var refOK = refErr{index: -1}

func newRefBucket(name string, history int) *refBucket {
	return &refBucket{name: name, history: history, keys: map[string][]refRev{}}
}

func (m *refBucket) clone() *refBucket {
	c := &refBucket{name: m.name, history: m.history, last: m.last, keys: map[string][]refRev{}}
	for k, v := range m.keys {
		c.keys[k] = slices.Clone(v)
	}
	return c
}

// newest returns the key's newest stored revision (rev 0: none).
func (m *refBucket) newest(key string) refRev {
	revs := m.keys[key]
	if len(revs) == 0 {
		return refRev{}
	}
	return revs[len(revs)-1]
}

func (m *refBucket) store(key string, op Operation, val []byte, hdr int) uint64 {
	m.last++
	r := refRev{rev: m.last, key: key, op: op, val: slices.Clone(val), hdr: hdr}
	revs := append(m.keys[key], r)
	if op == OpPurge {
		revs = []refRev{r}
	}
	if len(revs) > m.history {
		revs = revs[len(revs)-m.history:]
	}
	m.keys[key] = slices.Clone(revs)
	return m.last
}

func (m *refBucket) Put(key string, val []byte) (uint64, refErr) {
	return m.store(key, OpPut, val, 0), refOK
}

func (m *refBucket) Create(key string, val []byte) (uint64, refErr) {
	if n := m.newest(key); n.rev != 0 && n.op == OpPut {
		return 0, refErr{kind: ErrKeyExists, actual: n.rev, index: -1}
	}
	return m.store(key, OpPut, val, 0), refOK
}

func (m *refBucket) Update(key string, val []byte, last uint64) (uint64, refErr) {
	if n := m.newest(key); n.rev != last {
		return 0, refErr{kind: ErrWrongLastRevision, actual: n.rev, index: -1}
	}
	return m.store(key, OpPut, val, 0), refOK
}

// remove is Delete (op OpDelete) or Purge (OpPurge); last 0: no condition.
func (m *refBucket) remove(key string, op Operation, last uint64) (uint64, refErr) {
	if n := m.newest(key); last != 0 && n.rev != last {
		return 0, refErr{kind: ErrWrongLastRevision, actual: n.rev, index: -1}
	}
	hdr := len(hdrDelete)
	if op == OpPurge {
		hdr = len(hdrPurge)
	}
	return m.store(key, op, nil, hdr), refOK
}

// Get returns the newest revision; a marker reads as deleted.
func (m *refBucket) Get(key string) (refRev, refErr) {
	n := m.newest(key)
	switch {
	case n.rev == 0:
		return refRev{}, refErr{kind: ErrKeyNotFound, index: -1}
	case n.op != OpPut:
		return n, refErr{kind: ErrKeyDeleted, index: -1}
	}
	return n, refOK
}

// GetRevision finds rev among key's stored revisions.
func (m *refBucket) GetRevision(key string, rev uint64) (refRev, refErr) {
	for _, r := range m.keys[key] {
		if r.rev == rev {
			if r.op != OpPut {
				return r, refErr{kind: ErrKeyDeleted, index: -1}
			}
			return r, refOK
		}
	}
	return refRev{}, refErr{kind: ErrKeyNotFound, index: -1}
}

func (m *refBucket) History(key string) ([]refRev, refErr) {
	if len(m.keys[key]) == 0 {
		return nil, refErr{kind: ErrKeyNotFound, index: -1}
	}
	return slices.Clone(m.keys[key]), refOK
}

// refMatch is a plain recursive subject match, written independently of
// the engine's.
func refMatch(filter, key string) bool {
	f, k := strings.Split(filter, "."), strings.Split(key, ".")
	for i, t := range f {
		if t == ">" {
			return len(k) > i
		}
		if i >= len(k) || (t != "*" && t != k[i]) {
			return false
		}
	}
	return len(f) == len(k)
}

func refMatchAny(filters []string, key string) bool {
	if len(filters) == 0 {
		return true
	}
	for _, f := range filters {
		if refMatch(f, key) {
			return true
		}
	}
	return false
}

// Keys lists keys whose newest revision is a value and that match.
func (m *refBucket) Keys(filters []string) ([]string, refErr) {
	var out []string
	for k := range m.keys {
		if n := m.newest(k); n.rev != 0 && n.op == OpPut && refMatchAny(filters, k) {
			out = append(out, k)
		}
	}
	if len(out) == 0 {
		return nil, refErr{kind: ErrNoKeysFound, index: -1}
	}
	sort.Strings(out)
	return out, refOK
}

// PurgeAllDeletes is PurgeDeletes with a negative threshold: every key
// whose newest revision is a marker loses all its revisions.
func (m *refBucket) PurgeAllDeletes() uint64 {
	var n uint64
	for k, revs := range m.keys {
		if len(revs) > 0 && revs[len(revs)-1].op != OpPut {
			n += uint64(len(revs))
			delete(m.keys, k)
		}
	}
	return n
}

// Batch applies ops all or nothing; the failing op's index is reported.
func (m *refBucket) Batch(ops []BatchOp) ([]uint64, refErr) {
	try := m.clone()
	revs := make([]uint64, len(ops))
	for i, o := range ops {
		n := try.newest(o.Key)
		if o.LastRevision != 0 && n.rev != o.LastRevision {
			return nil, refErr{kind: ErrWrongLastRevision, actual: n.rev, index: i}
		}
		switch o.Op {
		case OpPut:
			if o.Create && n.rev != 0 && n.op == OpPut {
				return nil, refErr{kind: ErrWrongLastRevision, actual: n.rev, index: i}
			}
			revs[i] = try.store(o.Key, OpPut, o.Value, 0)
		case OpDelete:
			revs[i], _ = try.remove(o.Key, OpDelete, 0)
		case OpPurge:
			revs[i], _ = try.remove(o.Key, OpPurge, 0)
		}
	}
	*m = *try
	return revs, refOK
}

// SetHistory changes the limit; a lower one drops each key's surplus at
// once.
func (m *refBucket) SetHistory(h int) {
	m.history = h
	for k, revs := range m.keys {
		if len(revs) > h {
			m.keys[k] = slices.Clone(revs[len(revs)-h:])
		}
	}
}

// Stored returns every stored revision matching filters, by revision.
func (m *refBucket) Stored(filters []string) []refRev {
	var out []refRev
	for k, revs := range m.keys {
		if refMatchAny(filters, k) {
			out = append(out, revs...)
		}
	}
	slices.SortFunc(out, func(a, b refRev) int { return int(a.rev) - int(b.rev) })
	return out
}

// Latest returns the newest revision of each matching key, by revision.
func (m *refBucket) Latest(filters []string) []refRev {
	var out []refRev
	for k := range m.keys {
		if refMatchAny(filters, k) {
			out = append(out, m.newest(k))
		}
	}
	slices.SortFunc(out, func(a, b refRev) int { return int(a.rev) - int(b.rev) })
	return out
}

// refStats are the counters a bucket's status reports.
type refStats struct {
	Msgs, Bytes, Keys, Last uint64
}

func (m *refBucket) Stats() refStats {
	s := refStats{Last: m.last}
	for k, revs := range m.keys {
		s.Keys++
		for _, r := range revs {
			s.Msgs++
			s.Bytes += bucket.Size(len("$KV.")+len(m.name)+1+len(k), r.hdr, len(r.val))
		}
	}
	return s
}
