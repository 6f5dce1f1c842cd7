package node

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cairnkv/cairn/storage/bucket"
)

// The model-based test: thousands of random operations against the engine
// and against refBucket (model_ref_test.go), comparing every observable
// result, with restarts of the node on the same data directory.
//
//	go test ./node -run TestModel -seed 12345      replay a seed
//	CAIRN_MODEL_SEED=12345 go test ./node -run TestModel
//	CAIRN_MODEL_OPS=200000 go test ./node -run TestModel -timeout 1h

var modelSeed = flag.Int64("seed", 0, "seed for TestModel (0: random)")

func modelSettings(t *testing.T) (seed int64, ops int) {
	seed, ops = *modelSeed, 4000
	if s := os.Getenv("CAIRN_MODEL_SEED"); s != "" && seed == 0 {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("CAIRN_MODEL_SEED: %v", err)
		}
		seed = v
	}
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	if s := os.Getenv("CAIRN_MODEL_OPS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v <= 0 {
			t.Fatalf("CAIRN_MODEL_OPS: %q", s)
		}
		ops = v
	}
	if testing.Short() {
		ops = min(ops, 500)
	}
	return seed, ops
}

var (
	modelKeys = []string{
		"a", "b", "c", "a.b", "a.c", "b.a", "c.c", "a.b.c", "a.a.a", "b.c.a",
		"x-y", "k=v", "p/q", "a.b.c.d", "A_1",
	}
	modelFilters = []string{
		">", "*", "a.>", "a.*", "*.b", "*.*.*", "b.>", "a", "a.b.c", "c.*", "*.c.>", "*.*", "p/q", "zz.>",
	}
)

type modelBucket struct {
	name    string
	history int
	storage bucket.Storage
	ref     *refBucket
	b       *Bucket
}

// modelRun holds one run's state; every check failure names the step.
type modelRun struct {
	t    *testing.T
	rng  *rand.Rand
	step int
	op   string
	n    *Node
	dir  string
	bs   []*modelBucket
}

func (r *modelRun) fatalf(format string, args ...any) {
	r.t.Helper()
	r.t.Fatalf("step %d (%s): %s", r.step, r.op, fmt.Sprintf(format, args...))
}

func TestModel(t *testing.T) {
	seed, ops := modelSettings(t)
	t.Logf("seed %d, %d operations", seed, ops)
	defer func() {
		if t.Failed() {
			t.Logf("replay: go test ./node -run 'TestModel$' -seed %d   (or CAIRN_MODEL_SEED=%d)", seed, seed)
		}
	}()
	r := &modelRun{t: t, rng: rand.New(rand.NewPCG(uint64(seed), uint64(seed)>>17|1)), dir: t.TempDir()}
	r.n = startNode(t, r.dir)
	for _, spec := range []struct {
		name    string
		history int
		storage bucket.Storage
	}{
		{"h1", 1, bucket.FileStorage},
		{"h3", 3, bucket.FileStorage},
		{"h10", 10, bucket.FileStorage},
		{"mem5", 5, bucket.MemoryStorage},
		{"z64", 64, bucket.FileStorage}, // compressed
	} {
		mb := &modelBucket{name: spec.name, history: spec.history, storage: spec.storage, ref: newRefBucket(spec.name, spec.history)}
		mb.b = mustBucket(t, r.n, BucketConfig{Name: spec.name, History: int64(spec.history), Storage: spec.storage, Compression: spec.name == "z64"})
		r.bs = append(r.bs, mb)
	}
	nextRestart := 150 + r.rng.IntN(250)
	for r.step = 1; r.step <= ops; r.step++ {
		if r.step == nextRestart {
			r.op = "restart"
			r.restart()
			r.checkAll()
			nextRestart = r.step + 150 + r.rng.IntN(250)
			continue
		}
		r.randomOp(r.bs[r.rng.IntN(len(r.bs))])
		if r.step%100 == 0 {
			r.op = "full check"
			r.checkAll()
		}
	}
	r.op = "final check"
	r.checkAll()
}

func (r *modelRun) restart() {
	r.t.Helper()
	if err := r.n.Close(); err != nil {
		r.fatalf("close: %v", err)
	}
	for _, mb := range r.bs {
		// The closed node's handles fail cleanly.
		if _, err := mb.b.Get(context.Background(), "a", ReadOptions{Stale: true}); !errors.Is(err, ErrBucketNotFound) {
			r.fatalf("get on a closed node: %v", err)
		}
	}
	r.n = startNode(r.t, r.dir)
	for _, mb := range r.bs {
		b, err := r.n.Bucket(mb.name)
		if err != nil {
			r.fatalf("bucket %s after restart: %v", mb.name, err)
		}
		mb.b = b
		if mb.storage == bucket.MemoryStorage {
			// A memory bucket survives a restart empty.
			mb.ref = newRefBucket(mb.name, mb.history)
		}
	}
}

func (r *modelRun) key() string { return modelKeys[r.rng.IntN(len(modelKeys))] }

func (r *modelRun) value() []byte {
	n := r.rng.IntN(25)
	if n == 0 {
		return nil
	}
	if r.rng.IntN(8) == 0 {
		// Long and compressible.
		return bytes.Repeat([]byte{byte(r.rng.IntN(256)), byte(n)}, 40+r.rng.IntN(200))
	}
	v := make([]byte, n)
	for i := range v {
		v[i] = byte(r.rng.IntN(256))
	}
	return v
}

func (r *modelRun) filters() []string {
	if r.rng.IntN(6) == 0 {
		return nil
	}
	fs := []string{modelFilters[r.rng.IntN(len(modelFilters))]}
	for r.rng.IntN(3) == 0 {
		fs = append(fs, modelFilters[r.rng.IntN(len(modelFilters))])
	}
	return fs
}

// expectRev picks an expected revision for a conditional write: usually
// right, sometimes off by one, sometimes anything.
func (r *modelRun) expectRev(m *refBucket, key string) uint64 {
	cur := m.newest(key).rev
	switch x := r.rng.IntN(10); {
	case x < 6:
		return cur
	case x < 8:
		if cur > 0 && r.rng.IntN(2) == 0 {
			return cur - 1
		}
		return cur + 1
	default:
		return uint64(r.rng.IntN(int(m.last) + 2))
	}
}

func (r *modelRun) readOpts() ReadOptions { return ReadOptions{Stale: r.rng.IntN(3) == 0} }

func (r *modelRun) randomOp(mb *modelBucket) {
	ctx := context.Background() // each request is bounded by the node's request timeout
	m, b := mb.ref, mb.b
	x := r.rng.IntN(100)
	switch {
	case x < 22:
		k, v := r.key(), r.value()
		r.op = fmt.Sprintf("%s: put %s", mb.name, k)
		got, err := b.Put(ctx, k, v)
		want, werr := m.Put(k, v)
		r.checkWrite(got, err, want, werr)
	case x < 32:
		k, v := r.key(), r.value()
		r.op = fmt.Sprintf("%s: create %s", mb.name, k)
		got, err := b.Create(ctx, k, v, 0)
		want, werr := m.Create(k, v)
		r.checkWrite(got, err, want, werr)
	case x < 43:
		k, v := r.key(), r.value()
		last := r.expectRev(m, k)
		r.op = fmt.Sprintf("%s: update %s at %d", mb.name, k, last)
		got, err := b.Update(ctx, k, v, last)
		want, werr := m.Update(k, v, last)
		r.checkWrite(got, err, want, werr)
	case x < 53:
		k := r.key()
		var last uint64
		if r.rng.IntN(2) == 0 {
			last = r.expectRev(m, k)
		}
		op, mop := "delete", OpDelete
		if r.rng.IntN(3) == 0 {
			op, mop = "purge", OpPurge
		}
		r.op = fmt.Sprintf("%s: %s %s at %d", mb.name, op, k, last)
		var got uint64
		var err error
		if mop == OpDelete {
			got, err = b.Delete(ctx, k, RemoveOptions{LastRevision: last})
		} else {
			got, err = b.Purge(ctx, k, RemoveOptions{LastRevision: last})
		}
		want, werr := m.remove(k, mop, last)
		r.checkWrite(got, err, want, werr)
	case x < 66:
		k := r.key()
		r.op = fmt.Sprintf("%s: get %s", mb.name, k)
		e, err := b.Get(ctx, k, r.readOpts())
		want, werr := m.Get(k)
		r.checkErr(err, werr)
		if werr.kind == nil || errors.Is(werr.kind, ErrKeyDeleted) {
			r.checkEntry(e, want)
		}
	case x < 74:
		k, rev := r.key(), uint64(r.rng.IntN(int(m.last)+3))
		if stored := m.Stored(nil); len(stored) > 0 && r.rng.IntN(2) == 0 {
			s := stored[r.rng.IntN(len(stored))]
			rev = s.rev
			if r.rng.IntN(4) != 0 {
				k = s.key
			}
		}
		r.op = fmt.Sprintf("%s: get %s at %d", mb.name, k, rev)
		e, err := b.GetRevision(ctx, k, rev, r.readOpts())
		want, werr := m.GetRevision(k, rev)
		r.checkErr(err, werr)
		if werr.kind == nil || errors.Is(werr.kind, ErrKeyDeleted) {
			r.checkEntry(e, want)
		}
	case x < 81:
		k := r.key()
		r.op = fmt.Sprintf("%s: history %s", mb.name, k)
		h, err := b.History(ctx, k, r.readOpts())
		want, werr := m.History(k)
		r.checkErr(err, werr)
		r.checkHistory(h, want)
	case x < 86:
		fs := r.filters()
		r.op = fmt.Sprintf("%s: keys %q", mb.name, fs)
		keys, err := b.Keys(ctx, r.readOpts(), fs...)
		want, werr := m.Keys(fs)
		r.checkErr(err, werr)
		if !slices.Equal(keys, want) {
			r.fatalf("keys %q, model %q", keys, want)
		}
	case x < 92:
		ops := make([]BatchOp, 1+r.rng.IntN(4))
		var desc []string
		for i := range ops {
			o := BatchOp{Key: r.key()}
			switch y := r.rng.IntN(10); {
			case y < 6:
				o.Op, o.Value, o.Create = OpPut, r.value(), r.rng.IntN(3) == 0
			case y < 9:
				o.Op = OpDelete
			default:
				o.Op = OpPurge
			}
			if r.rng.IntN(3) == 0 {
				o.LastRevision = r.expectRev(m, o.Key)
			}
			ops[i] = o
			desc = append(desc, fmt.Sprintf("%v %s create=%v last=%d", o.Op, o.Key, o.Create, o.LastRevision))
		}
		r.op = fmt.Sprintf("%s: batch [%s]", mb.name, strings.Join(desc, "; "))
		got, err := b.Batch(ctx, ops)
		want, werr := m.Batch(ops)
		r.checkErr(err, werr)
		if !slices.Equal(got, want) {
			r.fatalf("batch revisions %v, model %v", got, want)
		}
	case x < 93:
		r.op = fmt.Sprintf("%s: purge deletes", mb.name)
		got, err := b.PurgeDeletes(ctx, -1)
		if err != nil {
			r.fatalf("%v", err)
		}
		if want := m.PurgeAllDeletes(); got != want {
			r.fatalf("purged %d, model %d", got, want)
		}
	case x < 95:
		r.op = fmt.Sprintf("%s: status", mb.name)
		r.checkStats(mb)
	case x < 96 && r.rng.IntN(3) == 0:
		h := []int{1, 2, 3, 5, 10, 64}[r.rng.IntN(6)]
		r.op = fmt.Sprintf("%s: set history %d", mb.name, h)
		cfg := BucketConfig{Name: mb.name, History: int64(h), Storage: mb.storage, Compression: mb.name == "z64"}
		if _, err := r.n.UpdateBucket(ctx, cfg); err != nil {
			r.fatalf("%v", err)
		}
		mb.history = h
		m.SetHistory(h)
	default:
		fs := r.filters()
		o := WatchOptions{IncludeHistory: r.rng.IntN(2) == 0, IgnoreDeletes: r.rng.IntN(4) == 0, MetaOnly: r.rng.IntN(4) == 0}
		r.op = fmt.Sprintf("%s: watch %q %+v", mb.name, fs, o)
		r.checkWatch(mb, fs, o)
	}
}

func (r *modelRun) checkErr(err error, want refErr) {
	r.t.Helper()
	if want.kind == nil {
		if err != nil {
			r.fatalf("error %v, model: success", err)
		}
		return
	}
	if err == nil {
		r.fatalf("success, model: %v", want.kind)
	}
	if !errors.Is(err, want.kind) {
		r.fatalf("error %v, model: %v", err, want.kind)
	}
	if want.kind == ErrKeyNotFound && errors.Is(err, ErrKeyDeleted) {
		r.fatalf("error %v, model: not found (never written or gone), not deleted", err)
	}
	if want.kind == ErrKeyExists || want.kind == ErrWrongLastRevision {
		if s := fmt.Sprintf("wrong last sequence: %d", want.actual); !strings.Contains(err.Error(), s) {
			r.fatalf("error %q, model: %q", err, s)
		}
	}
	if want.index >= 0 {
		var pe *bucket.PublishError
		if !errors.As(err, &pe) || pe.Index != want.index || !strings.Contains(err.Error(), fmt.Sprintf("operation %d:", want.index)) {
			r.fatalf("error %v, model: operation %d fails", err, want.index)
		}
	}
}

func (r *modelRun) checkWrite(got uint64, err error, want uint64, werr refErr) {
	r.t.Helper()
	r.checkErr(err, werr)
	if got != want {
		r.fatalf("revision %d, model %d", got, want)
	}
}

func (r *modelRun) checkEntry(e Entry, want refRev) {
	r.t.Helper()
	if e.Key != want.key || e.Revision != want.rev || e.Op != want.op || !bytes.Equal(e.Value, want.val) {
		r.fatalf("entry %s@%d %v %x, model %s@%d %v %x", e.Key, e.Revision, e.Op, e.Value, want.key, want.rev, want.op, want.val)
	}
}

func (r *modelRun) checkHistory(h []Entry, want []refRev) {
	r.t.Helper()
	if len(h) != len(want) {
		r.fatalf("history of %d, model %d: %v vs %v", len(h), len(want), h, want)
	}
	for i := range h {
		r.checkEntry(h[i], want[i])
		if h[i].Delta != uint64(len(h)-1-i) {
			r.fatalf("history entry %d delta %d", i, h[i].Delta)
		}
	}
}

func (r *modelRun) checkStats(mb *modelBucket) {
	r.t.Helper()
	info, err := mb.b.Info(context.Background())
	if err != nil {
		r.fatalf("info: %v", err)
	}
	want := mb.ref.Stats()
	st := info.State
	if st.Msgs != want.Msgs || st.Bytes != want.Bytes || st.Keys != want.Keys || st.Last != want.Last {
		r.fatalf("stats msgs=%d bytes=%d keys=%d last=%d, model %+v", st.Msgs, st.Bytes, st.Keys, st.Last, want)
	}
	first := want.Last + 1
	if stored := mb.ref.Stored(nil); len(stored) > 0 {
		first = stored[0].rev
	}
	if st.First != first {
		r.fatalf("first revision %d, model %d", st.First, first)
	}
	if info.Config.History != int64(mb.history) || info.Config.Storage != mb.storage {
		r.fatalf("config %+v", info.Config)
	}
}

// checkWatch compares a watcher's initial part with the model.
func (r *modelRun) checkWatch(mb *modelBucket, fs []string, o WatchOptions) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	w, err := mb.b.Watch(ctx, fs, o)
	if err != nil {
		r.fatalf("watch: %v", err)
	}
	defer w.Close()
	want := mb.ref.Latest(fs)
	if o.IncludeHistory {
		want = mb.ref.Stored(fs)
	}
	if o.IgnoreDeletes {
		want = slices.DeleteFunc(want, func(x refRev) bool { return x.op != OpPut })
	}
	for i := 0; ; i++ {
		e, err := w.Next(ctx)
		if err != nil {
			r.fatalf("watch entry %d: %v", i, err)
		}
		if e == nil {
			if i != len(want) {
				r.fatalf("watch delivered %d initial entries, model %d", i, len(want))
			}
			break
		}
		if i >= len(want) {
			r.fatalf("watch entry %d %s@%d beyond the model's %d", i, e.Key, e.Revision, len(want))
		}
		x := want[i]
		if o.MetaOnly {
			if e.Value != nil {
				r.fatalf("meta-only watch delivered a value")
			}
			x.val = nil
		}
		r.checkEntry(*e, x)
	}
}

// checkAll compares every key, the key list and the counters of every
// bucket.
func (r *modelRun) checkAll() {
	r.t.Helper()
	ctx := context.Background()
	for _, mb := range r.bs {
		for _, k := range modelKeys {
			e, err := mb.b.Get(ctx, k, ReadOptions{})
			want, werr := mb.ref.Get(k)
			r.checkErr(err, werr)
			if werr.kind == nil || errors.Is(werr.kind, ErrKeyDeleted) {
				r.checkEntry(e, want)
			}
			h, err := mb.b.History(ctx, k, ReadOptions{})
			wh, werr := mb.ref.History(k)
			r.checkErr(err, werr)
			r.checkHistory(h, wh)
		}
		keys, err := mb.b.Keys(ctx, ReadOptions{})
		wk, werr := mb.ref.Keys(nil)
		r.checkErr(err, werr)
		if !slices.Equal(keys, wk) {
			r.fatalf("%s: keys %q, model %q", mb.name, keys, wk)
		}
		r.checkStats(mb)
		r.checkWatch(mb, nil, WatchOptions{IncludeHistory: true})
	}
}

// The reference model's own subject matching agrees with the engine's on
// every key and filter the model test uses.
func TestModelFilterMatch(t *testing.T) {
	for _, f := range modelFilters {
		for _, k := range modelKeys {
			if refMatch(f, k) != bucket.MatchFilter(f, k) {
				t.Fatalf("filter %q key %q: model %v, engine %v", f, k, refMatch(f, k), bucket.MatchFilter(f, k))
			}
		}
	}
}
