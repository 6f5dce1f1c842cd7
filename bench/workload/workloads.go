package workload

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/cairnkv/cairn/bench/dist"
)

// worker is one client's state. It is used by one goroutine.
type worker struct {
	id      int
	cl      Client
	rng     *rand.Rand
	keys    dist.Chooser
	sizes   dist.Size
	payload dist.Payload
	buf     []byte   // stamped watch values
	made    uint64   // buckets created
	created []string // their names, removed after the run
}

func (w *worker) value() []byte { return w.payload.Value(w.rng, w.sizes.Next(w.rng)) }

func (w *worker) keyIndex() uint64 { return w.keys.Next() }

// kind is one workload's behaviour.
type kind interface {
	// preload is how many keys the load phase writes before measuring
	// (keys 0..n-1), and how many times each.
	preload() (keys, rounds int)
	// op runs one operation due at due and returns its kind and the
	// value bytes it moved.
	op(ctx context.Context, w *worker, due time.Time) (op string, bytes int, err error)
}

func newKind(c *Config, ins *inserts) kind {
	switch c.Workload {
	case Put:
		return putKind{}
	case Get:
		return getKind{keys: c.Keyspace}
	case Mixed:
		return mixedKind{mix: Mixes[c.Mix], keys: c.Keyspace, ins: ins}
	case CAS:
		return casKind{keys: c.Keyspace}
	case Watch:
		return watchKind{}
	case Keys:
		return keysKind{keys: c.Keyspace}
	case History:
		return historyKind{keys: c.Keyspace, depth: c.Bucket.History}
	case BucketCreate:
		return bucketKind{b: c.Bucket}
	case Large:
		return largeKind{keys: c.Keyspace}
	}
	panic("unknown workload " + c.Workload) // ApplyDefaults rejects it first
}

type putKind struct{}

func (putKind) preload() (int, int) { return 0, 0 }

func (putKind) op(ctx context.Context, w *worker, _ time.Time) (string, int, error) {
	v := w.value()
	_, err := w.cl.Put(ctx, KeyName(w.keyIndex()), v)
	return "put", len(v), err
}

type getKind struct{ keys int }

func (k getKind) preload() (int, int) { return k.keys, 1 }

func (getKind) op(ctx context.Context, w *worker, _ time.Time) (string, int, error) {
	v, _, err := w.cl.Get(ctx, KeyName(w.keyIndex()))
	return "get", len(v), err
}

// mixedKind is a YCSB core workload. Reads are gets, updates and inserts
// are puts, a scan reads the 100-key group of the chosen key (the nearest
// thing to a range read NATS KV has: a subject filter), and
// read-modify-write is a get followed by a put.
type mixedKind struct {
	mix  Mix
	keys int
	ins  *inserts
}

func (k mixedKind) preload() (int, int) { return k.keys, 1 }

func (k mixedKind) op(ctx context.Context, w *worker, _ time.Time) (string, int, error) {
	x := w.rng.Float64()
	m := k.mix
	switch {
	case x < m.Read:
		v, _, err := w.cl.Get(ctx, KeyName(w.keyIndex()))
		return "read", len(v), err
	case x < m.Read+m.Update:
		v := w.value()
		_, err := w.cl.Put(ctx, KeyName(w.keyIndex()), v)
		return "update", len(v), err
	case x < m.Read+m.Update+m.Insert:
		i := k.ins.reserve()
		defer k.ins.finish(i)
		v := w.value()
		_, err := w.cl.Put(ctx, KeyName(i), v)
		return "insert", len(v), err
	case x < m.Read+m.Update+m.Insert+m.Scan:
		_, n, err := w.cl.Scan(ctx, GroupPrefix(w.keyIndex()))
		return "scan", n, err
	default:
		key := KeyName(w.keyIndex())
		old, _, err := w.cl.Get(ctx, key)
		if err != nil {
			return "rmw", 0, err
		}
		v := w.value()
		_, err = w.cl.Put(ctx, key, v)
		return "rmw", len(old) + len(v), err
	}
}

// casKind reads a hot key and writes it back if nobody wrote it since.
type casKind struct{ keys int }

func (k casKind) preload() (int, int) { return k.keys, 1 }

func (casKind) op(ctx context.Context, w *worker, _ time.Time) (string, int, error) {
	key := KeyName(w.keyIndex())
	_, rev, err := w.cl.Get(ctx, key)
	if err != nil {
		return "cas", 0, err
	}
	v := w.value()
	_, err = w.cl.Update(ctx, key, v, rev)
	return "cas", len(v), err
}

// stampLen is the send time every watch value starts with.
const stampLen = 8

// watchKind puts values that carry their due time, so watchers can
// measure delivery latency (watchers and writers share one clock).
type watchKind struct{}

func (watchKind) preload() (int, int) { return 0, 0 }

func (watchKind) op(ctx context.Context, w *worker, due time.Time) (string, int, error) {
	n := w.sizes.Next(w.rng)
	if cap(w.buf) < n {
		w.buf = make([]byte, n)
	}
	v := w.buf[:n]
	binary.BigEndian.PutUint64(v, uint64(due.UnixNano()))
	copy(v[stampLen:], w.payload.Value(w.rng, n-stampLen))
	_, err := w.cl.Put(ctx, KeyName(w.keyIndex()), v)
	return "put", n, err
}

// stamp reads the due time a watch value carries.
func stamp(v []byte) (time.Time, bool) {
	if len(v) < stampLen {
		return time.Time{}, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(v))), true
}

type keysKind struct{ keys int }

func (k keysKind) preload() (int, int) { return k.keys, 1 }

func (k keysKind) op(ctx context.Context, w *worker, _ time.Time) (string, int, error) {
	n, err := w.cl.Keys(ctx)
	if err == nil && n != k.keys {
		err = fmt.Errorf("%w: listed %d keys of %d", ErrShort, n, k.keys)
	}
	return "list", 0, err
}

type historyKind struct{ keys, depth int }

func (k historyKind) preload() (int, int) { return k.keys, k.depth }

func (k historyKind) op(ctx context.Context, w *worker, _ time.Time) (string, int, error) {
	n, err := w.cl.History(ctx, KeyName(w.keyIndex()))
	if err == nil && n != k.depth {
		err = fmt.Errorf("%w: %d revisions of %d", ErrShort, n, k.depth)
	}
	return "history", 0, err
}

// bucketKind creates buckets named after the run's bucket; the runner
// deletes them afterwards.
type bucketKind struct{ b Bucket }

func (bucketKind) preload() (int, int) { return 0, 0 }

func (k bucketKind) op(ctx context.Context, w *worker, _ time.Time) (string, int, error) {
	b := k.b
	b.Name = fmt.Sprintf("%s-bc-%d-%d", k.b.Name, w.id, w.made)
	w.made++
	err := w.cl.CreateBucket(ctx, b)
	if err == nil {
		w.created = append(w.created, b.Name)
	}
	return "create", 0, err
}

type largeKind struct{ keys int }

func (k largeKind) preload() (int, int) { return k.keys, 1 }

func (largeKind) op(ctx context.Context, w *worker, _ time.Time) (string, int, error) {
	key := KeyName(w.keyIndex())
	if w.rng.IntN(2) == 0 {
		v, _, err := w.cl.Get(ctx, key)
		return "get", len(v), err
	}
	v := w.value()
	_, err := w.cl.Put(ctx, key, v)
	return "put", len(v), err
}
