package node

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnkv/cairn/storage"
	"github.com/cairnkv/cairn/storage/bucket"
	"github.com/cockroachdb/pebble/v2"
)

// Semantic tests of the bucket service: every operation and every error a
// client can see, against a real node on Pebble.

// wantErr checks an error's kind (errors.Is), its JetStream codes and that
// its message contains each of contains.
func wantErr(t testing.TB, err error, kind error, code, errCode int, contains ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want %v (%d/%d), got no error", kind, code, errCode)
	}
	if !errors.Is(err, kind) {
		t.Fatalf("want %v, got %T %v", kind, err, err)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("want a *node.Error, got %T %v", err, err)
	}
	if e.Code != code || e.ErrCode != errCode {
		t.Fatalf("%v: want code %d err_code %d, got %d %d", err, code, errCode, e.Code, e.ErrCode)
	}
	for _, s := range contains {
		if !strings.Contains(err.Error(), s) {
			t.Fatalf("error %q does not mention %q", err, s)
		}
	}
}

// must returns v, failing the test if err is set: must(f())(t).
func must[T any](v T, err error) func(testing.TB) T {
	return func(t testing.TB) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// mustDo fails the test if err is set.
func mustDo(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond every few milliseconds until it holds or the
// deadline passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// countKeys counts the Pebble keys under prefix.
func countKeys(t testing.TB, db *storage.DB, prefix []byte) int {
	t.Helper()
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: storage.PrefixEnd(prefix)})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		n++
	}
	if err := it.Error(); err != nil {
		t.Fatal(err)
	}
	return n
}

func putSize(bucketName, key string, hdr, data int) uint64 {
	return bucket.Size(len("$KV.")+len(bucketName)+1+len(key), hdr, data)
}

func TestBucketCreateDefaults(t *testing.T) {
	n := startNode(t, "")
	ctx := testCtx(t)
	info := must(n.CreateBucket(ctx, BucketConfig{Name: "defaults"}))(t)
	c := info.Config
	if c.Name != "defaults" || c.History != 1 || c.MaxBytes != -1 || c.MaxValueSize != -1 ||
		c.Storage != bucket.FileStorage || c.Replicas != 1 || c.MaxAge != 0 || c.MarkerTTL != 0 ||
		c.DuplicateWindow != 2*time.Minute || !c.AllowRollup || !c.DenyDelete || !c.AllowDirect || !c.DiscardNew || c.AllowMsgTTL {
		t.Fatalf("defaults: %+v", c)
	}
	if info.Created.IsZero() || info.Group == 0 || info.Leader != n.NodeID() || info.State.Msgs != 0 || info.State.Last != 0 {
		t.Fatalf("info: %+v", info)
	}
	// A max age shorter than 2 minutes caps the duplicate window; a
	// marker TTL turns on per-key TTLs.
	info = must(n.CreateBucket(ctx, BucketConfig{Name: "aged", MaxAge: time.Minute, MarkerTTL: time.Second}))(t)
	if info.Config.DuplicateWindow != time.Minute || !info.Config.AllowMsgTTL {
		t.Fatalf("aged: %+v", info.Config)
	}
	// The replicated bucket state carries the normalized config too.
	b := must(n.Bucket("aged"))(t)
	if got := b.state.Config(); got.MaxAge != time.Minute || got.MarkerTTL != time.Second || got.History != 1 {
		t.Fatalf("state config %+v", got)
	}
}

func TestBucketCreateConfigErrors(t *testing.T) {
	n := startNode(t, "")
	ctx := testCtx(t)
	for _, h := range []int64{0, 1, 2, 63, 64} {
		info, err := n.CreateBucket(ctx, BucketConfig{Name: fmt.Sprintf("h%d", h), History: h})
		if err != nil {
			t.Fatalf("history %d: %v", h, err)
		}
		if want := max(h, 1); info.Config.History != want {
			t.Fatalf("history %d: got %d", h, info.Config.History)
		}
	}
	for _, tc := range []struct {
		name string
		cfg  BucketConfig
		kind error
		code int
		ec   int
		msg  string
	}{
		{"history 65", BucketConfig{Name: "x", History: 65}, ErrInvalidConfig, 500, 10052, "history must be between 1 and 64"},
		{"history -1", BucketConfig{Name: "x", History: -1}, ErrInvalidConfig, 500, 10052, "history must be between 1 and 64"},
		{"negative max age", BucketConfig{Name: "x", MaxAge: -time.Second}, ErrInvalidConfig, 500, 10052, "max age"},
		{"tiny max age", BucketConfig{Name: "x", MaxAge: 50 * time.Millisecond}, ErrInvalidConfig, 500, 10052, "at least 100ms"},
		{"tiny marker ttl", BucketConfig{Name: "x", MarkerTTL: 500 * time.Millisecond}, ErrInvalidConfig, 500, 10052, "at least 1s"},
		{"bad storage", BucketConfig{Name: "x", Storage: "tape"}, ErrInvalidConfig, 500, 10052, "storage must be file or memory"},
		{"replicas 2", BucketConfig{Name: "x", Replicas: 2}, ErrInvalidConfig, 500, 10052, "replicas must be 1, 3 or 5"},
		{"replicas 3 alone", BucketConfig{Name: "x", Replicas: 3}, ErrInvalidConfig, 500, 10074, "replicas > 1 not supported in non-clustered mode (3 replicas"},
		{"replicas 5 alone", BucketConfig{Name: "x", Replicas: 5}, ErrInvalidConfig, 500, 10074, "(5 replicas"},
		{"duplicate window over max age", BucketConfig{Name: "x", MaxAge: time.Second, DuplicateWindow: time.Minute}, ErrInvalidConfig, 500, 10052, "duplicate window"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := n.CreateBucket(ctx, tc.cfg)
			wantErr(t, err, tc.kind, tc.code, tc.ec, tc.msg)
			if _, err := n.Bucket("x"); !errors.Is(err, ErrBucketNotFound) {
				t.Fatalf("a refused create left a bucket: %v", err)
			}
		})
	}
}

func TestBucketNames(t *testing.T) {
	n := startNode(t, "")
	ctx := testCtx(t)
	for _, name := range []string{"a", "A-z_09", strings.Repeat("n", 250)} {
		if _, err := n.CreateBucket(ctx, BucketConfig{Name: name}); err != nil {
			t.Fatalf("valid name %q: %v", name, err)
		}
	}
	const chars = "only letters, digits, '-' and '_' are allowed"
	for _, tc := range []struct{ name, rule string }{
		{"", "must not be empty"},
		{strings.Repeat("n", 251), "longer than 250 characters"},
		{"a.b", chars},
		{"a b", chars},
		{"a*", chars},
		{"a>", chars},
		{"a/b", chars},
		{"a\\b", chars},
		{"a=b", chars},
		{"käse", chars},
		{"tab\t", chars},
	} {
		_, err := n.CreateBucket(ctx, BucketConfig{Name: tc.name})
		wantErr(t, err, ErrInvalidBucketName, 400, 10052, tc.rule)
		_, err = n.UpdateBucket(ctx, BucketConfig{Name: tc.name})
		wantErr(t, err, ErrInvalidBucketName, 400, 10052, tc.rule)
		wantErr(t, n.DeleteBucket(ctx, tc.name), ErrInvalidBucketName, 400, 10052, tc.rule)
		_, err = n.Bucket(tc.name)
		wantErr(t, err, ErrInvalidBucketName, 400, 10052, tc.rule)
		_, err = n.BucketInfo(ctx, tc.name)
		wantErr(t, err, ErrInvalidBucketName, 400, 10052, tc.rule)
	}
}

func TestBucketCreateIdempotent(t *testing.T) {
	n := startNode(t, "")
	ctx := testCtx(t)
	cfg := BucketConfig{Name: "idem", History: 5, MaxAge: time.Hour, Description: "d", Metadata: map[string]string{"k": "v"}}
	first := must(n.CreateBucket(ctx, cfg))(t)
	b := must(n.Bucket("idem"))(t)
	rev := must(b.Put(ctx, "k", []byte("v")))(t)
	second := must(n.CreateBucket(ctx, cfg))(t)
	if second.Group != first.Group || !second.Created.Equal(first.Created) {
		t.Fatalf("identical create made a new bucket: %+v vs %+v", first, second)
	}
	// Explicit defaults are the same config as implicit ones.
	explicit := cfg
	explicit.Storage, explicit.Replicas, explicit.MaxBytes, explicit.MaxValueSize = bucket.FileStorage, 1, -1, -1
	must(n.CreateBucket(ctx, explicit))(t)
	if e := must(b.Get(ctx, "k", ReadOptions{}))(t); e.Revision != rev {
		t.Fatalf("identical create touched the data: %+v", e)
	}
	for _, diff := range []BucketConfig{
		{Name: "idem", History: 6, MaxAge: time.Hour, Description: "d", Metadata: map[string]string{"k": "v"}},
		{Name: "idem", History: 5, MaxAge: time.Hour, Description: "other", Metadata: map[string]string{"k": "v"}},
		{Name: "idem", History: 5, MaxAge: time.Hour, Description: "d"},
		{Name: "idem", History: 5, Description: "d", Metadata: map[string]string{"k": "v"}},
		{Name: "idem", History: 5, MaxAge: time.Hour, Description: "d", Metadata: map[string]string{"k": "v"}, Storage: bucket.MemoryStorage},
	} {
		_, err := n.CreateBucket(ctx, diff)
		wantErr(t, err, ErrBucketExists, 400, 10058, "already in use with a different configuration")
	}
	if info := must(n.BucketInfo(ctx, "idem"))(t); info.Config.History != 5 || info.State.Msgs != 1 {
		t.Fatalf("a refused create changed the bucket: %+v", info)
	}
}

func TestBucketUpdate(t *testing.T) {
	n := startNode(t, "")
	ctx := testCtx(t)
	_, err := n.UpdateBucket(ctx, BucketConfig{Name: "missing"})
	wantErr(t, err, ErrBucketNotFound, 404, 10059, "stream not found")

	must(n.CreateBucket(ctx, BucketConfig{Name: "up", History: 2}))(t)
	_, err = n.UpdateBucket(ctx, BucketConfig{Name: "up", History: 2, Storage: bucket.MemoryStorage})
	wantErr(t, err, ErrInvalidConfig, 500, 10052, "can not change storage")
	_, err = n.UpdateBucket(ctx, BucketConfig{Name: "up", History: 100})
	wantErr(t, err, ErrInvalidConfig, 500, 10052, "history")

	b := must(n.Bucket("up"))(t)
	for i := range 5 {
		must(b.Put(ctx, "k", []byte{byte(i)}))(t)
	}
	if h := must(b.History(ctx, "k", ReadOptions{}))(t); len(h) != 2 {
		t.Fatalf("history 2: %d revisions", len(h))
	}
	info := must(n.UpdateBucket(ctx, BucketConfig{Name: "up", History: 4, Description: "more"}))(t)
	if info.Config.History != 4 || info.Config.Description != "more" {
		t.Fatalf("update: %+v", info.Config)
	}
	if got := b.state.Config(); got.History != 4 || got.Description != "more" {
		t.Fatalf("replicated config not updated: %+v", got)
	}
	for i := range 5 {
		must(b.Put(ctx, "k", []byte{byte(10 + i)}))(t)
	}
	if h := must(b.History(ctx, "k", ReadOptions{}))(t); len(h) != 4 || h[3].Value[0] != 14 {
		t.Fatalf("history 4 after update: %+v", h)
	}
	// Lowering the history limit drops the surplus at once, as when
	// nats-server lowers max_msgs_per_subject.
	must(b.Put(ctx, "two", []byte("1")))(t)
	r2 := must(b.Put(ctx, "two", []byte("2")))(t)
	must(n.UpdateBucket(ctx, BucketConfig{Name: "up", History: 1, Description: "less"}))(t)
	h := must(b.History(ctx, "k", ReadOptions{}))(t)
	if len(h) != 1 || h[0].Value[0] != 14 {
		t.Fatalf("history after lowering the limit: %+v", h)
	}
	if _, err := b.GetRevision(ctx, "k", h[0].Revision-1, ReadOptions{}); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("a trimmed revision is still readable: %v", err)
	}
	if h := must(b.History(ctx, "two", ReadOptions{}))(t); len(h) != 1 || h[0].Revision != r2 {
		t.Fatalf("history of two: %+v", h)
	}
	info = must(b.Info(ctx))(t)
	if info.State.Msgs != 2 || info.State.Bytes != putSize("up", "k", 0, 1)+putSize("up", "two", 0, 1) || info.State.Keys != 2 {
		t.Fatalf("state after lowering the limit: %+v", info.State)
	}
	// The update survives a restart.
	dir := n.Config().DataDir
	n.Close()
	n = startNode(t, dir)
	if info := must(n.BucketInfo(ctx, "up"))(t); info.Config.History != 1 || info.Config.Description != "less" || info.State.Msgs != 2 {
		t.Fatalf("after restart: %+v", info)
	}
}

func TestBucketInfoAndList(t *testing.T) {
	n := startNode(t, "")
	ctx := testCtx(t)
	if l := must(n.Buckets(ctx))(t); len(l) != 0 {
		t.Fatalf("fresh node lists %v", l)
	}
	_, err := n.BucketInfo(ctx, "nope")
	wantErr(t, err, ErrBucketNotFound, 404, 10059)

	for _, name := range []string{"c", "a", "b"} {
		mustBucket(t, n, BucketConfig{Name: name, History: 3, MaxAge: time.Hour})
	}
	b := must(n.Bucket("a"))(t)
	var want uint64
	put := func(key, val string) uint64 {
		want += putSize("a", key, 0, len(val))
		return must(b.Put(ctx, key, []byte(val)))(t)
	}
	put("x", "1")
	put("x", "22")
	put("y.z", "333")
	last := put("x", "4444")
	rev := must(b.Delete(ctx, "y.z", RemoveOptions{}))(t)
	want += putSize("a", "y.z", len(hdrDelete), 0)
	info := must(n.BucketInfo(ctx, "a"))(t)
	if info.State.Msgs != 5 || info.State.Bytes != want || info.State.Last != rev || rev != last+1 ||
		info.State.First != 1 || info.State.Keys != 2 || info.Config.History != 3 || info.Config.MaxAge != time.Hour {
		t.Fatalf("info: %+v (want %d bytes)", info, want)
	}
	if info.State.LastTime == 0 || info.State.FirstTime == 0 || info.State.LastTime < info.State.FirstTime {
		t.Fatalf("times: %+v", info.State)
	}
	// Rolling off history moves First and the counters.
	put("x", "55555")
	want -= putSize("a", "x", 0, 1)
	info = must(b.Info(ctx))(t)
	if info.State.Msgs != 5 || info.State.Bytes != want || info.State.First != 2 {
		t.Fatalf("after roll-off: %+v", info.State)
	}

	l := must(n.Buckets(ctx))(t)
	var names []string
	for _, bi := range l {
		names = append(names, bi.Config.Name)
	}
	if !slices.Equal(names, []string{"a", "b", "c"}) {
		t.Fatalf("list: %v", names)
	}
	if l[0].State.Msgs != 5 {
		t.Fatalf("list state: %+v", l[0])
	}
	mustDo(t, n.DeleteBucket(ctx, "b"))
	names = names[:0]
	for _, bi := range must(n.Buckets(ctx))(t) {
		names = append(names, bi.Config.Name)
	}
	if !slices.Equal(names, []string{"a", "c"}) {
		t.Fatalf("list after delete: %v", names)
	}
}

func TestBucketDelete(t *testing.T) {
	for _, st := range []bucket.Storage{bucket.FileStorage, bucket.MemoryStorage} {
		t.Run(string(st), func(t *testing.T) {
			n := startNode(t, "")
			ctx := testCtx(t)
			wantErr(t, n.DeleteBucket(ctx, "gone"), ErrBucketNotFound, 404, 10059)
			info := must(n.CreateBucket(ctx, BucketConfig{Name: "gone", History: 5, Storage: st}))(t)
			b := must(n.Bucket("gone"))(t)
			for i := range 50 {
				must(b.Put(ctx, fmt.Sprintf("k.%d", i%7), []byte("value")))(t)
			}
			db := n.dbFor(st)
			g := storage.GroupID(info.Group)
			if countKeys(t, db, storage.GroupPrefix(g)) == 0 || countKeys(t, db, storage.RaftPrefix(g)) == 0 {
				t.Fatal("bucket wrote nothing to Pebble")
			}
			mustDo(t, n.DeleteBucket(ctx, "gone"))

			if c := countKeys(t, db, storage.GroupPrefix(g)); c != 0 {
				t.Fatalf("%d state keys of the deleted group remain", c)
			}
			if c := countKeys(t, db, storage.RaftPrefix(g)); c != 0 {
				t.Fatalf("%d raft keys of the deleted group remain", c)
			}
			_, err := n.Bucket("gone")
			wantErr(t, err, ErrBucketNotFound, 404, 10059)
			_, err = n.BucketInfo(ctx, "gone")
			wantErr(t, err, ErrBucketNotFound, 404, 10059)
			// The old handle fails cleanly.
			_, err = b.Put(ctx, "k.1", []byte("x"))
			wantErr(t, err, ErrBucketNotFound, 404, 10059)
			_, err = b.Get(ctx, "k.1", ReadOptions{})
			wantErr(t, err, ErrBucketNotFound, 404, 10059)
			_, err = b.Keys(ctx, ReadOptions{})
			wantErr(t, err, ErrBucketNotFound, 404, 10059)
			_, err = b.Watch(ctx, nil, WatchOptions{})
			wantErr(t, err, ErrBucketNotFound, 404, 10059)
			wantErr(t, n.DeleteBucket(ctx, "gone"), ErrBucketNotFound, 404, 10059)

			// Recreating gives an empty bucket on a new group.
			info2 := must(n.CreateBucket(ctx, BucketConfig{Name: "gone", History: 5, Storage: st}))(t)
			if info2.Group == info.Group || info2.State.Msgs != 0 || info2.State.Last != 0 {
				t.Fatalf("recreated: %+v", info2)
			}
			b2 := must(n.Bucket("gone"))(t)
			_, err = b2.Get(ctx, "k.1", ReadOptions{})
			wantErr(t, err, ErrKeyNotFound, 404, 10037)
			_, err = b2.Keys(ctx, ReadOptions{})
			if !errors.Is(err, ErrNoKeysFound) {
				t.Fatalf("keys of recreated bucket: %v", err)
			}
			if rev := must(b2.Put(ctx, "k.1", []byte("new")))(t); rev != 1 {
				t.Fatalf("first revision of recreated bucket: %d", rev)
			}
			// A restart neither resurrects the old data nor loses the new.
			if st == bucket.FileStorage {
				dir := n.Config().DataDir
				n.Close()
				n = startNode(t, dir)
				if c := countKeys(t, n.disk, storage.GroupPrefix(g)); c != 0 {
					t.Fatalf("%d keys of the deleted group after restart", c)
				}
				b2 = must(n.Bucket("gone"))(t)
				if e := must(b2.Get(ctx, "k.1", ReadOptions{}))(t); string(e.Value) != "new" || e.Revision != 1 {
					t.Fatalf("after restart: %+v", e)
				}
				if h := must(b2.History(ctx, "k.1", ReadOptions{}))(t); len(h) != 1 {
					t.Fatalf("history after restart: %+v", h)
				}
			}
		})
	}
}

// Deleting and recreating buckets while the node reconciles its registry
// in the background must never destroy a live bucket's data.
func TestBucketDeleteRecreateChurn(t *testing.T) {
	n := startNode(t, "")
	ctx := testCtx(t)
	for i := range 30 {
		b := mustBucket(t, n, BucketConfig{Name: "churn"})
		must(b.Put(ctx, "k", []byte(fmt.Sprint(i))))(t)
		other := mustBucket(t, n, BucketConfig{Name: fmt.Sprintf("o%d", i)})
		must(other.Put(ctx, "k", []byte("o")))(t)
		if e := must(b.Get(ctx, "k", ReadOptions{}))(t); string(e.Value) != fmt.Sprint(i) || e.Revision != 1 {
			t.Fatalf("round %d: %+v", i, e)
		}
		mustDo(t, n.DeleteBucket(ctx, "churn"))
	}
	dir := n.Config().DataDir
	n.Close()
	n = startNode(t, dir)
	for i := range 30 {
		b := must(n.Bucket(fmt.Sprintf("o%d", i)))(t)
		if e := must(b.Get(ctx, "k", ReadOptions{}))(t); string(e.Value) != "o" {
			t.Fatalf("bucket o%d lost its data: %+v", i, e)
		}
	}
	if _, err := n.Bucket("churn"); !errors.Is(err, ErrBucketNotFound) {
		t.Fatalf("deleted bucket after restart: %v", err)
	}
}

// Buckets created concurrently (while the node reconciles its registry
// in the background after each creation) all keep their data, also
// across a restart.
func TestConcurrentBucketCreate(t *testing.T) {
	n := startNode(t, "")
	ctx := testCtx(t)
	const creators, each = 4, 25
	var wg sync.WaitGroup
	errc := make(chan error, creators)
	for w := range creators {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				name := fmt.Sprintf("c%d-%d", w, i)
				if _, err := n.CreateBucket(ctx, BucketConfig{Name: name}); err != nil {
					errc <- fmt.Errorf("create %s: %w", name, err)
					return
				}
				b, err := n.Bucket(name)
				if err == nil {
					_, err = b.Put(ctx, "k", []byte(name))
				}
				if err != nil {
					errc <- fmt.Errorf("put to %s: %w", name, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	check := func(n *Node) {
		t.Helper()
		for w := range creators {
			for i := range each {
				name := fmt.Sprintf("c%d-%d", w, i)
				b := must(n.Bucket(name))(t)
				if e, err := b.Get(ctx, "k", ReadOptions{}); err != nil || string(e.Value) != name {
					t.Fatalf("%s lost its data: %+v %v", name, e, err)
				}
			}
		}
	}
	check(n)
	dir := n.Config().DataDir
	n.Close()
	check(startNode(t, dir))
}

func TestMemoryBucket(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir)
	ctx := testCtx(t)
	info := must(n.CreateBucket(ctx, BucketConfig{Name: "mem", Storage: bucket.MemoryStorage, History: 3}))(t)
	b := must(n.Bucket("mem"))(t)
	r1 := must(b.Put(ctx, "a", []byte("1")))(t)
	r2 := must(b.Put(ctx, "a", []byte("2")))(t)
	if e := must(b.Get(ctx, "a", ReadOptions{}))(t); string(e.Value) != "2" || e.Revision != r2 || r2 != r1+1 {
		t.Fatalf("get: %+v", e)
	}
	g := storage.GroupID(info.Group)
	if c := countKeys(t, n.disk, storage.GroupPrefix(g)) + countKeys(t, n.disk, storage.RaftPrefix(g)); c != 0 {
		t.Fatalf("memory bucket wrote %d keys to disk", c)
	}
	// Like a JetStream memory stream, the data does not survive a
	// restart, but the bucket does.
	n.Close()
	n = startNode(t, dir)
	b = must(n.Bucket("mem"))(t)
	info = must(b.Info(ctx))(t)
	if info.Config.Storage != bucket.MemoryStorage || info.Config.History != 3 || info.State.Msgs != 0 {
		t.Fatalf("after restart: %+v", info)
	}
	if _, err := b.Get(ctx, "a", ReadOptions{}); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("get after restart: %v", err)
	}
	must(b.Put(ctx, "a", []byte("3")))(t)
	if h := must(b.History(ctx, "a", ReadOptions{}))(t); len(h) != 1 || string(h[0].Value) != "3" {
		t.Fatalf("history after restart: %+v", h)
	}
}

func TestPutGet(t *testing.T) {
	n := startNode(t, "")
	ctx := testCtx(t)
	b := mustBucket(t, n, BucketConfig{Name: "pg", History: 5})
	before := time.Now()
	r1 := must(b.Put(ctx, "a.b", []byte("one")))(t)
	r2 := must(b.Put(ctx, "a.b", []byte("two")))(t)
	r3 := must(b.Put(ctx, "c", nil))(t)
	if r1 != 1 || r2 != 2 || r3 != 3 {
		t.Fatalf("revisions %d %d %d", r1, r2, r3)
	}
	e := must(b.Get(ctx, "a.b", ReadOptions{}))(t)
	if e.Bucket != "pg" || e.Key != "a.b" || string(e.Value) != "two" || e.Revision != r2 || e.Op != OpPut || e.Delta != 0 {
		t.Fatalf("get: %+v", e)
	}
	if e.Created.Before(before.Add(-time.Second)) || e.Created.After(time.Now().Add(time.Second)) || e.Created.Location() != time.UTC {
		t.Fatalf("created %v", e.Created)
	}
	e = must(b.Get(ctx, "c", ReadOptions{Stale: true}))(t)
	if len(e.Value) != 0 || e.Revision != r3 {
		t.Fatalf("empty value: %+v", e)
	}
	_, err := b.Get(ctx, "missing", ReadOptions{})
	wantErr(t, err, ErrKeyNotFound, 404, 10037)
	if errors.Is(err, ErrKeyDeleted) {
		t.Fatal("a never-written key reads as deleted")
	}
	// Created times never go backwards.
	h := must(b.History(ctx, "a.b", ReadOptions{}))(t)
	if h[1].Created.Before(h[0].Created) {
		t.Fatalf("time went backwards: %v %v", h[0].Created, h[1].Created)
	}
	// A value as large as the node allows is fine; one byte more is not.
	max := n.Config().MaxPayload
	must(b.Put(ctx, "big", make([]byte, max)))(t)
	_, err = b.Put(ctx, "big", make([]byte, max+1))
	wantErr(t, err, ErrValueTooLarge, 400, 10054)
}

func TestCreate(t *testing.T) {
	n := startNode(t, "")
	ctx := testCtx(t)
	b := mustBucket(t, n, BucketConfig{Name: "cr", History: 10})
	r1 := must(b.Create(ctx, "k", []byte("v1"), 0))(t)
	_, err := b.Create(ctx, "k", []byte("v2"), 0)
	wantErr(t, err, ErrKeyExists, 400, 10071, fmt.Sprintf("wrong last sequence: %d", r1))
	if !errors.Is(err, ErrWrongLastRevision) {
		t.Fatalf("key exists should also match ErrWrongLastRevision: %v", err)
	}
	r2 := must(b.Put(ctx, "k", []byte("v3")))(t)
	_, err = b.Create(ctx, "k", []byte("v2"), 0)
	wantErr(t, err, ErrKeyExists, 400, 10071, fmt.Sprintf("wrong last sequence: %d", r2))
	// Over a delete marker.
	must(b.Delete(ctx, "k", RemoveOptions{}))(t)
	r3 := must(b.Create(ctx, "k", []byte("after delete"), 0))(t)
	if e := must(b.Get(ctx, "k", ReadOptions{}))(t); string(e.Value) != "after delete" || e.Revision != r3 {
		t.Fatalf("create over delete: %+v", e)
	}
	// Over a purge marker.
	must(b.Purge(ctx, "k", RemoveOptions{}))(t)
	r4 := must(b.Create(ctx, "k", []byte("after purge"), 0))(t)
	if h := must(b.History(ctx, "k", ReadOptions{}))(t); len(h) != 2 || h[0].Op != OpPurge || h[1].Revision != r4 {
		t.Fatalf("history after create over purge: %+v", h)
	}
	// Failed creates took no revision.
	if r2 != r1+1 || r4 != r3+2 {
		t.Fatalf("revisions %d %d %d %d", r1, r2, r3, r4)
	}
	if last := b.state.LastSeq(); last != r4 {
		t.Fatalf("last %d want %d", last, r4)
	}
}

func TestUpdate(t *testing.T) {
	n := startNode(t, "")
	ctx := testCtx(t)
	b := mustBucket(t, n, BucketConfig{Name: "upd", History: 10})
	// Revision 0 means "the key has no revision".
	r1 := must(b.Update(ctx, "k", []byte("v1"), 0))(t)
	_, err := b.Update(ctx, "k", []byte("x"), 0)
	wantErr(t, err, ErrWrongLastRevision, 400, 10071, fmt.Sprintf("wrong last sequence: %d", r1))
	r2 := must(b.Update(ctx, "k", []byte("v2"), r1))(t)
	_, err = b.Update(ctx, "k", []byte("x"), r1)
	wantErr(t, err, ErrWrongLastRevision, 400, 10071, fmt.Sprintf("wrong last sequence: %d", r2))
	if errors.Is(err, ErrKeyExists) {
		t.Fatal("update mismatch should not read as key exists")
	}
	_, err = b.Update(ctx, "other", []byte("x"), r2)
	wantErr(t, err, ErrWrongLastRevision, 400, 10071, "wrong last sequence: 0")
	// An update names the delete marker's revision to revive a key.
	rd := must(b.Delete(ctx, "k", RemoveOptions{}))(t)
	_, err = b.Update(ctx, "k", []byte("x"), r2)
	wantErr(t, err, ErrWrongLastRevision, 400, 10071, fmt.Sprintf("wrong last sequence: %d", rd))
	r3 := must(b.Update(ctx, "k", []byte("v3"), rd))(t)
	if r2 != r1+1 || rd != r2+1 || r3 != rd+1 {
		t.Fatalf("revisions %d %d %d %d", r1, r2, rd, r3)
	}
	if e := must(b.Get(ctx, "k", ReadOptions{}))(t); string(e.Value) != "v3" {
		t.Fatalf("get %+v", e)
	}
}

func TestDeleteAndPurge(t *testing.T) {
	n := startNode(t, "")
	ctx := testCtx(t)
	b := mustBucket(t, n, BucketConfig{Name: "dp", History: 10})
	r1 := must(b.Put(ctx, "d", []byte("1")))(t)
	r2 := must(b.Put(ctx, "d", []byte("2")))(t)
	_, err := b.Delete(ctx, "d", RemoveOptions{LastRevision: r1})
	wantErr(t, err, ErrWrongLastRevision, 400, 10071, fmt.Sprintf("wrong last sequence: %d", r2))
	rd := must(b.Delete(ctx, "d", RemoveOptions{LastRevision: r2}))(t)
	e, err := b.Get(ctx, "d", ReadOptions{})
	wantErr(t, err, ErrKeyDeleted, 404, 10037)
	wantErr(t, err, ErrKeyNotFound, 404, 10037)
	if e.Revision != rd || e.Op != OpDelete {
		t.Fatalf("deleted entry %+v", e)
	}
	h := must(b.History(ctx, "d", ReadOptions{}))(t)
	if len(h) != 3 || h[2].Op != OpDelete || h[2].Revision != rd || len(h[2].Value) != 0 || string(h[1].Value) != "2" {
		t.Fatalf("history after delete %+v", h)
	}
	if !bytes.Contains(h[2].Header, []byte("KV-Operation: DEL")) {
		t.Fatalf("delete header %q", h[2].Header)
	}
	// Deleting again is allowed and leaves another marker; deleting a key
	// that never existed leaves a marker too (as in NATS).
	rd2 := must(b.Delete(ctx, "d", RemoveOptions{}))(t)
	rn := must(b.Delete(ctx, "never", RemoveOptions{}))(t)
	if rd2 != rd+1 || rn != rd2+1 {
		t.Fatalf("delete revisions %d %d %d", rd, rd2, rn)
	}

	p1 := must(b.Put(ctx, "p", []byte("1")))(t)
	p2 := must(b.Put(ctx, "p", []byte("2")))(t)
	_, err = b.Purge(ctx, "p", RemoveOptions{LastRevision: p1})
	wantErr(t, err, ErrWrongLastRevision, 400, 10071, fmt.Sprintf("wrong last sequence: %d", p2))
	if h := must(b.History(ctx, "p", ReadOptions{}))(t); len(h) != 2 {
		t.Fatalf("a failed purge removed history: %+v", h)
	}
	rp := must(b.Purge(ctx, "p", RemoveOptions{LastRevision: p2}))(t)
	if rp != p2+1 {
		t.Fatalf("purge revision %d after %d", rp, p2)
	}
	h = must(b.History(ctx, "p", ReadOptions{}))(t)
	if len(h) != 1 || h[0].Op != OpPurge || h[0].Revision != rp {
		t.Fatalf("history after purge %+v", h)
	}
	_, err = b.Get(ctx, "p", ReadOptions{})
	wantErr(t, err, ErrKeyDeleted, 404, 10037)
	for _, r := range []uint64{p1, p2} {
		_, err = b.GetRevision(ctx, "p", r, ReadOptions{})
		wantErr(t, err, ErrKeyNotFound, 404, 10037)
	}
	// Purge without a condition, and of a deleted key.
	must(b.Purge(ctx, "d", RemoveOptions{}))(t)
	if h := must(b.History(ctx, "d", ReadOptions{}))(t); len(h) != 1 || h[0].Op != OpPurge {
		t.Fatalf("purge of deleted key %+v", h)
	}
	// Purging leaves other keys alone.
	must(b.Put(ctx, "q", []byte("q")))(t)
	must(b.Purge(ctx, "p", RemoveOptions{}))(t)
	if e := must(b.Get(ctx, "q", ReadOptions{}))(t); string(e.Value) != "q" {
		t.Fatalf("purge hit another key: %+v", e)
	}
	info := must(b.Info(ctx))(t)
	// Remaining: d purge, never delete, p purge, q put.
	if info.State.Msgs != 4 {
		t.Fatalf("messages after purges: %+v", info.State)
	}
}

func TestGetRevision(t *testing.T) {
	n := startNode(t, "")
	ctx := testCtx(t)
	b := mustBucket(t, n, BucketConfig{Name: "gr", History: 2})
	a1 := must(b.Put(ctx, "a", []byte("a1")))(t)
	b1 := must(b.Put(ctx, "b", []byte("b1")))(t)
	a2 := must(b.Put(ctx, "a", []byte("a2")))(t)
	ad := must(b.Delete(ctx, "a", RemoveOptions{}))(t)
	if e := must(b.GetRevision(ctx, "a", a2, ReadOptions{}))(t); string(e.Value) != "a2" || e.Revision != a2 || e.Key != "a" {
		t.Fatalf("get rev %+v", e)
	}
	if e := must(b.GetRevision(ctx, "b", b1, ReadOptions{Stale: true}))(t); string(e.Value) != "b1" {
		t.Fatalf("get rev %+v", e)
	}
	// a1 rolled off (history 2: a2 and the delete marker remain).
	_, err := b.GetRevision(ctx, "a", a1, ReadOptions{})
	wantErr(t, err, ErrKeyNotFound, 404, 10037)
	// The revision exists but belongs to another key.
	_, err = b.GetRevision(ctx, "a", b1, ReadOptions{})
	wantErr(t, err, ErrKeyNotFound, 404, 10037)
	if errors.Is(err, ErrKeyDeleted) {
		t.Fatal("wrong key reads as deleted")
	}
	_, err = b.GetRevision(ctx, "a", ad, ReadOptions{})
	wantErr(t, err, ErrKeyDeleted, 404, 10037)
	for _, r := range []uint64{0, ad + 1, 1 << 40} {
		_, err = b.GetRevision(ctx, "a", r, ReadOptions{})
		wantErr(t, err, ErrKeyNotFound, 404, 10037)
	}
}

func TestHistory(t *testing.T) {
	n := startNode(t, "")
	ctx := testCtx(t)
	for _, hist := range []int64{1, 3, 64} {
		t.Run(fmt.Sprint(hist), func(t *testing.T) {
			b := mustBucket(t, n, BucketConfig{Name: fmt.Sprintf("h%d", hist), History: hist})
			_, err := b.History(ctx, "k", ReadOptions{})
			wantErr(t, err, ErrKeyNotFound, 404, 10037)
			var revs []uint64
			for i := range 70 {
				revs = append(revs, must(b.Put(ctx, "k", []byte(fmt.Sprint(i))))(t))
				must(b.Put(ctx, "other", []byte("x")))(t)
			}
			h := must(b.History(ctx, "k", ReadOptions{}))(t)
			if int64(len(h)) != hist {
				t.Fatalf("history holds %d, limit %d", len(h), hist)
			}
			keep := revs[len(revs)-int(hist):]
			for i, e := range h {
				if e.Revision != keep[i] || string(e.Value) != fmt.Sprint(70-int(hist)+i) || e.Delta != uint64(len(h)-1-i) {
					t.Fatalf("entry %d: %+v want rev %d", i, e, keep[i])
				}
			}
			// The oldest rolled off: neither History nor GetRevision see it.
			if _, err := b.GetRevision(ctx, "k", revs[len(revs)-int(hist)-1], ReadOptions{}); !errors.Is(err, ErrKeyNotFound) {
				t.Fatalf("rolled-off revision: %v", err)
			}
			// Markers count toward the limit too.
			must(b.Delete(ctx, "k", RemoveOptions{}))(t)
			h = must(b.History(ctx, "k", ReadOptions{}))(t)
			if int64(len(h)) != hist || h[len(h)-1].Op != OpDelete {
				t.Fatalf("history after delete: %d entries, last %+v", len(h), h[len(h)-1])
			}
			info := must(b.Info(ctx))(t)
			if info.State.Msgs != uint64(2*hist) && hist < 64 {
				t.Fatalf("messages %d want %d", info.State.Msgs, 2*hist)
			}
		})
	}
}

func TestKeys(t *testing.T) {
	n := startNode(t, "")
	ctx := testCtx(t)
	b := mustBucket(t, n, BucketConfig{Name: "keys", History: 3})
	_, err := b.Keys(ctx, ReadOptions{})
	wantErr(t, err, ErrNoKeysFound, 404, 10037)
	for _, k := range []string{"a", "a.b", "a.b.c", "a.x.c", "b.c", "b.c.d.e", "del", "pur", "z=1/2"} {
		must(b.Put(ctx, k, []byte(k)))(t)
		must(b.Put(ctx, k, []byte(k+"2")))(t)
	}
	must(b.Delete(ctx, "del", RemoveOptions{}))(t)
	must(b.Purge(ctx, "pur", RemoveOptions{}))(t)
	must(b.Delete(ctx, "a.gone", RemoveOptions{}))(t)
	for _, tc := range []struct {
		filters []string
		want    []string
	}{
		{nil, []string{"a", "a.b", "a.b.c", "a.x.c", "b.c", "b.c.d.e", "z=1/2"}},
		{[]string{">"}, []string{"a", "a.b", "a.b.c", "a.x.c", "b.c", "b.c.d.e", "z=1/2"}},
		{[]string{"*"}, []string{"a", "z=1/2"}},
		{[]string{"a"}, []string{"a"}},
		{[]string{"a.>"}, []string{"a.b", "a.b.c", "a.x.c"}},
		{[]string{"a.*"}, []string{"a.b"}},
		{[]string{"a.*.c"}, []string{"a.b.c", "a.x.c"}},
		{[]string{"*.b.*"}, []string{"a.b.c"}},
		{[]string{"*.*"}, []string{"a.b", "b.c"}},
		{[]string{"b.>"}, []string{"b.c", "b.c.d.e"}},
		{[]string{"b.*.>"}, []string{"b.c.d.e"}},
		{[]string{"a.b", "b.*"}, []string{"a.b", "b.c"}},
		{[]string{"a.>", "a.b.c", "*.x.*"}, []string{"a.b", "a.b.c", "a.x.c"}},
		{[]string{"z=1/2", "a"}, []string{"a", "z=1/2"}},
	} {
		got, err := b.Keys(ctx, ReadOptions{}, tc.filters...)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Fatalf("keys %q: got %q %v, want %q", tc.filters, got, err, tc.want)
		}
	}
	for _, f := range [][]string{{"del"}, {"pur"}, {"a.gone"}, {"nope"}, {"c.>"}, {"*.*.*.*.*"}, {"del", "q.*"}} {
		_, err := b.Keys(ctx, ReadOptions{}, f...)
		wantErr(t, err, ErrNoKeysFound, 404, 10037)
	}
	for _, f := range []string{"a.>.b", ".a", "a.", "a..b", "a b", "a*", "a>"} {
		_, err := b.Keys(ctx, ReadOptions{}, f)
		wantErr(t, err, ErrInvalidKey, 400, 10052, f)
	}
}

func TestPurgeDeletes(t *testing.T) {
	t.Parallel()
	n := startNode(t, "")
	ctx := testCtx(t)
	b := mustBucket(t, n, BucketConfig{Name: "pd", History: 5})
	for _, k := range []string{"old", "young", "purged", "live"} {
		must(b.Put(ctx, k, []byte("1")))(t)
		must(b.Put(ctx, k, []byte("2")))(t)
	}
	oldRev := must(b.Delete(ctx, "old", RemoveOptions{}))(t)
	must(b.Purge(ctx, "purged", RemoveOptions{}))(t)
	oldEntry, _ := b.GetRevision(ctx, "old", oldRev, ReadOptions{})
	waitFor(t, 10*time.Second, "the old marker to age", func() bool { return time.Since(oldEntry.Created) > 1200*time.Millisecond })
	must(b.Delete(ctx, "young", RemoveOptions{}))(t)

	// Markers older than a second go entirely; the young one keeps only
	// itself.
	purged := must(b.PurgeDeletes(ctx, time.Second))(t)
	if purged != 3+1+2 { // old: 2 values + marker; purged: marker; young: 2 values
		t.Fatalf("purged %d", purged)
	}
	for _, k := range []string{"old", "purged"} {
		if _, err := b.History(ctx, k, ReadOptions{}); !errors.Is(err, ErrKeyNotFound) {
			t.Fatalf("%s still has history: %v", k, err)
		}
		if _, err := b.Get(ctx, k, ReadOptions{}); !errors.Is(err, ErrKeyNotFound) || errors.Is(err, ErrKeyDeleted) {
			t.Fatalf("%s after purge-deletes: %v", k, err)
		}
	}
	if h := must(b.History(ctx, "young", ReadOptions{}))(t); len(h) != 1 || h[0].Op != OpDelete {
		t.Fatalf("young marker: %+v", h)
	}
	if h := must(b.History(ctx, "live", ReadOptions{}))(t); len(h) != 2 {
		t.Fatalf("live key touched: %+v", h)
	}
	// The default threshold (30 minutes) keeps the young marker.
	if p := must(b.PurgeDeletes(ctx, 0))(t); p != 0 {
		t.Fatalf("default purge-deletes removed %d", p)
	}
	// Negative removes every marker.
	if p := must(b.PurgeDeletes(ctx, -1))(t); p != 1 {
		t.Fatalf("purge-deletes(-1) removed %d", p)
	}
	if _, err := b.History(ctx, "young", ReadOptions{}); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("young after purge-deletes(-1): %v", err)
	}
	if info := must(b.Info(ctx))(t); info.State.Msgs != 2 || info.State.Keys != 1 {
		t.Fatalf("after purge-deletes: %+v", info.State)
	}
	if k := must(b.Keys(ctx, ReadOptions{}))(t); !slices.Equal(k, []string{"live"}) {
		t.Fatalf("keys %v", k)
	}
}

var invalidKeys = []struct{ key, rule string }{
	{"", "must not be empty"},
	{".a", "must not start with '.'"},
	{"a.", "must not end with '.'"},
	{".", "must not start with '.'"},
	{"a..b", "empty token"},
	{"a b", "only letters"},
	{"a*b", "only letters"},
	{"a.*", "only letters"},
	{"a.>", "only letters"},
	{"a\tb", "only letters"},
	{"käse", "only letters"},
	{"a:b", "only letters"},
	{"_kv", "reserved"},
	{"_kv.x", "reserved"},
	{"_kvfoo", "reserved"},
	{strings.Repeat("k", 4097), "longer than 4096"},
}

func TestInvalidKeys(t *testing.T) {
	n := startNode(t, "")
	ctx := testCtx(t)
	b := mustBucket(t, n, BucketConfig{Name: "ik", History: 5, MarkerTTL: time.Second})
	must(b.Put(ctx, "valid", []byte("v")))(t)
	for _, k := range []string{"a", "A-Z_0-9", "a.b.c", "x=1/2", "-", "_", "_k", "a_kv", "kv._kv", strings.Repeat("k", 4096)} {
		if err := ValidateKey(k); err != nil {
			t.Fatalf("valid key %q: %v", k, err)
		}
	}
	last := b.state.LastSeq()
	ops := map[string]func(key string) error{
		"put":    func(k string) error { _, err := b.Put(ctx, k, []byte("v")); return err },
		"create": func(k string) error { _, err := b.Create(ctx, k, []byte("v"), 0); return err },
		"create ttl": func(k string) error {
			_, err := b.Create(ctx, k, []byte("v"), time.Second)
			return err
		},
		"update":       func(k string) error { _, err := b.Update(ctx, k, []byte("v"), 1); return err },
		"delete":       func(k string) error { _, err := b.Delete(ctx, k, RemoveOptions{}); return err },
		"purge":        func(k string) error { _, err := b.Purge(ctx, k, RemoveOptions{}); return err },
		"get":          func(k string) error { _, err := b.Get(ctx, k, ReadOptions{}); return err },
		"get revision": func(k string) error { _, err := b.GetRevision(ctx, k, 1, ReadOptions{}); return err },
		"history":      func(k string) error { _, err := b.History(ctx, k, ReadOptions{}); return err },
		"batch": func(k string) error {
			_, err := b.Batch(ctx, []BatchOp{{Op: OpPut, Key: "valid", Value: []byte("x")}, {Op: OpPut, Key: k}})
			return err
		},
	}
	for name, op := range ops {
		for _, tc := range invalidKeys {
			err := op(tc.key)
			wantErr(t, err, ErrInvalidKey, 400, 10052, tc.rule)
			if name == "batch" && !strings.Contains(err.Error(), "operation 1") {
				t.Fatalf("batch error does not name the operation: %v", err)
			}
		}
	}
	if got := b.state.LastSeq(); got != last {
		t.Fatalf("invalid keys consumed revisions: %d -> %d", last, got)
	}
	// Filters: wildcards are fine, empty tokens and misplaced '>' are not.
	for _, f := range []string{">", "*", "a.*", "a.>", "*.*.>", "a.*.c"} {
		if err := ValidateFilter(f); err != nil {
			t.Fatalf("valid filter %q: %v", f, err)
		}
	}
	for _, f := range []string{".a", "a.", "a..b", "a.>.b", ">.a", "a b", "a*", "a>", "a.b*"} {
		_, err := b.Keys(ctx, ReadOptions{}, f)
		wantErr(t, err, ErrInvalidKey, 400, 10052, f)
		_, err = b.Watch(ctx, []string{"ok", f}, WatchOptions{})
		wantErr(t, err, ErrInvalidKey, 400, 10052, f)
	}
}

func TestValueTooLargeAndBucketFull(t *testing.T) {
	n := startNode(t, "")
	ctx := testCtx(t)
	b := mustBucket(t, n, BucketConfig{Name: "vs", MaxValueSize: 100, History: 2})
	must(b.Put(ctx, "k", make([]byte, 100)))(t)
	last := b.state.LastSeq()
	for _, op := range []func() error{
		func() error { _, err := b.Put(ctx, "k", make([]byte, 101)); return err },
		func() error { _, err := b.Create(ctx, "new", make([]byte, 101), 0); return err },
		func() error { _, err := b.Update(ctx, "k", make([]byte, 1000), last); return err },
		func() error {
			_, err := b.Batch(ctx, []BatchOp{{Op: OpPut, Key: "ok"}, {Op: OpPut, Key: "k", Value: make([]byte, 101)}})
			return err
		},
	} {
		wantErr(t, op(), ErrValueTooLarge, 400, 10054, "message size exceeds maximum allowed")
	}
	if b.state.LastSeq() != last {
		t.Fatal("a refused value consumed a revision")
	}

	// Three 100-byte values fill the bucket.
	size := putSize("full", "k.1", 0, 100)
	f := mustBucket(t, n, BucketConfig{Name: "full", MaxBytes: int64(3 * size)})
	for i := 1; i <= 3; i++ {
		must(f.Put(ctx, fmt.Sprintf("k.%d", i), make([]byte, 100)))(t)
	}
	last = f.state.LastSeq()
	_, err := f.Put(ctx, "k.4", make([]byte, 100))
	wantErr(t, err, ErrBucketFull, 503, 10077, "maximum bytes exceeded")
	_, err = f.Put(ctx, "k.5", nil)
	wantErr(t, err, ErrBucketFull, 503, 10077)
	if f.state.LastSeq() != last {
		t.Fatal("a refused write consumed a revision")
	}
	// Replacing a value of a key at its history limit frees as much as it
	// takes, so it is allowed in a full bucket.
	must(f.Put(ctx, "k.1", make([]byte, 100)))(t)
	_, err = f.Put(ctx, "k.1", make([]byte, 101))
	wantErr(t, err, ErrBucketFull, 503, 10077)
	// A purge is allowed in a full bucket (its marker is smaller than
	// what it removes); removing the marker too makes room.
	must(f.Purge(ctx, "k.2", RemoveOptions{}))(t)
	_, err = f.Put(ctx, "k.4", make([]byte, 100))
	wantErr(t, err, ErrBucketFull, 503, 10077)
	must(f.PurgeDeletes(ctx, -1))(t)
	must(f.Put(ctx, "k.4", make([]byte, 100)))(t)
	if info := must(f.Info(ctx))(t); info.State.Bytes > uint64(info.Config.MaxBytes) {
		t.Fatalf("bucket over its limit: %+v", info.State)
	}
}

func TestPerKeyTTLErrors(t *testing.T) {
	n := startNode(t, "")
	ctx := testCtx(t)
	b := mustBucket(t, n, BucketConfig{Name: "nottl"})
	_, err := b.Create(ctx, "k", []byte("v"), 2*time.Second)
	wantErr(t, err, ErrTTLDisabled, 400, 10166, "per-message TTL is disabled")
	_, err = b.Purge(ctx, "k", RemoveOptions{TTL: 2 * time.Second})
	wantErr(t, err, ErrTTLDisabled, 400, 10166)
	if b.state.LastSeq() != 0 {
		t.Fatal("refused TTL consumed a revision")
	}
	tb := mustBucket(t, n, BucketConfig{Name: "ttl", MarkerTTL: time.Second})
	for _, d := range []time.Duration{time.Millisecond, 999 * time.Millisecond, -time.Second} {
		_, err = tb.Create(ctx, "k", []byte("v"), d)
		if d < 0 {
			// A negative TTL is never valid.
			wantErr(t, err, ErrInvalidTTL, 400, 10165)
			continue
		}
		wantErr(t, err, ErrInvalidTTL, 400, 10165, "invalid per-message TTL")
	}
}

func TestPerKeyTTLExpiry(t *testing.T) {
	t.Parallel()
	n := startNode(t, "")
	ctx := testCtx(t)
	b := mustBucket(t, n, BucketConfig{Name: "ttl", MarkerTTL: time.Second, History: 3})
	w := must(b.Watch(ctx, []string{"ttl.>"}, WatchOptions{}))(t)
	defer w.Close()
	if e := must(w.Next(ctx))(t); e != nil {
		t.Fatalf("want the initial marker, got %+v", e)
	}
	keep := must(b.Put(ctx, "keep", []byte("forever")))(t)
	ra := must(b.Create(ctx, "ttl.a", []byte("a"), 2*time.Second))(t)
	rb := must(b.Create(ctx, "ttl.b", []byte("b"), 2*time.Second))(t)
	e := must(b.Get(ctx, "ttl.a", ReadOptions{}))(t)
	if !bytes.Contains(e.Header, []byte("Nats-TTL: 2")) {
		t.Fatalf("TTL header %q", e.Header)
	}
	// A watcher sees both puts, then a purge marker for each key when its
	// TTL passes.
	seen := map[string][]Entry{}
	expired := func(k string) bool { es := seen[k]; return len(es) > 0 && es[len(es)-1].Op != OpPut }
	for !expired("ttl.a") || !expired("ttl.b") {
		e := must(w.Next(ctx))(t)
		seen[e.Key] = append(seen[e.Key], *e)
	}
	for key, rev := range map[string]uint64{"ttl.a": ra, "ttl.b": rb} {
		es := seen[key]
		if len(es) != 2 || es[0].Revision != rev || es[0].Op != OpPut || es[1].Op != OpPurge || es[1].Revision <= rb {
			t.Fatalf("%s: watcher saw %+v", key, es)
		}
		if !bytes.Contains(es[1].Header, []byte("Nats-Marker-Reason: MaxAge")) {
			t.Fatalf("marker header %q", es[1].Header)
		}
		if es[1].Created.Sub(es[0].Created) < 2*time.Second {
			t.Fatalf("%s expired early: %v -> %v", key, es[0].Created, es[1].Created)
		}
	}
	// The expired key reads as deleted; its value is gone.
	_, err := b.Get(ctx, "ttl.a", ReadOptions{})
	wantErr(t, err, ErrKeyDeleted, 404, 10037)
	if _, err := b.GetRevision(ctx, "ttl.a", ra, ReadOptions{}); !errors.Is(err, ErrKeyNotFound) || errors.Is(err, ErrKeyDeleted) {
		t.Fatalf("expired revision: %v", err)
	}
	// Create succeeds over an expiry marker.
	rc := must(b.Create(ctx, "ttl.b", []byte("again"), 0))(t)
	// The marker expires after the marker TTL, leaving nothing.
	waitFor(t, 10*time.Second, "the marker of ttl.a to expire", func() bool {
		_, err := b.History(ctx, "ttl.a", ReadOptions{})
		return errors.Is(err, ErrKeyNotFound)
	})
	if _, err := b.Get(ctx, "ttl.a", ReadOptions{}); errors.Is(err, ErrKeyDeleted) || !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("after marker expiry: %v", err)
	}
	// The marker's own expiry leaves no further marker, and keys without
	// a TTL stay.
	waitFor(t, 10*time.Second, "the marker of ttl.b to expire", func() bool {
		h, err := b.History(ctx, "ttl.b", ReadOptions{})
		return err == nil && len(h) == 1 && h[0].Revision == rc
	})
	if e := must(b.Get(ctx, "keep", ReadOptions{}))(t); e.Revision != keep {
		t.Fatalf("key without TTL: %+v", e)
	}
	if e := must(b.Get(ctx, "ttl.b", ReadOptions{}))(t); string(e.Value) != "again" {
		t.Fatalf("re-created key: %+v", e)
	}
	// The watcher saw the marker removals as nothing: removals of stored
	// revisions are not revisions.
	last := b.state.LastSeq()
	if info := must(b.Info(ctx))(t); info.State.Msgs != 2 || info.State.Last != last {
		t.Fatalf("state after expiry: %+v", info.State)
	}

	// A purge with a TTL: the purge marker itself goes away later.
	must(b.Put(ctx, "ttl.p", []byte("p")))(t)
	must(b.Purge(ctx, "ttl.p", RemoveOptions{TTL: time.Second}))(t)
	waitFor(t, 10*time.Second, "the purge marker to expire", func() bool {
		_, err := b.History(ctx, "ttl.p", ReadOptions{})
		return errors.Is(err, ErrKeyNotFound)
	})
	if got := b.state.LastSeq(); got != last+2 {
		t.Fatalf("an expired purge marker left a new marker: last %d want %d", got, last+2)
	}
}

func TestMaxAgeExpiry(t *testing.T) {
	t.Parallel()
	n := startNode(t, "")
	ctx := testCtx(t)
	plain := mustBucket(t, n, BucketConfig{Name: "age", MaxAge: time.Second, History: 5})
	marked := mustBucket(t, n, BucketConfig{Name: "agemark", MaxAge: time.Second, MarkerTTL: time.Second, History: 5})
	w := must(marked.Watch(ctx, nil, WatchOptions{UpdatesOnly: true}))(t)
	defer w.Close()
	for _, b := range []*Bucket{plain, marked} {
		must(b.Put(ctx, "a", []byte("1")))(t)
		must(b.Put(ctx, "a", []byte("2")))(t)
		must(b.Put(ctx, "b.c", []byte("3")))(t)
	}
	// With markers: each emptied key gets one purge marker, seen live
	// after its puts.
	seen := map[string][]Entry{}
	for len(seen["a"]) == 0 || seen["a"][len(seen["a"])-1].Op == OpPut ||
		len(seen["b.c"]) == 0 || seen["b.c"][len(seen["b.c"])-1].Op == OpPut {
		e := must(w.Next(ctx))(t)
		seen[e.Key] = append(seen[e.Key], *e)
	}
	for k, es := range seen {
		m := es[len(es)-1]
		if m.Op != OpPurge || (m.Revision != 4 && m.Revision != 5) || !bytes.Contains(m.Header, []byte("Nats-Marker-Reason: MaxAge")) {
			t.Fatalf("%s: marker %+v", k, m)
		}
		for _, e := range es[:len(es)-1] {
			if e.Op != OpPut || e.Revision > 3 {
				t.Fatalf("%s: %+v before the marker", k, e)
			}
		}
	}
	waitFor(t, 10*time.Second, "max age to empty the bucket", func() bool {
		info, err := plain.Info(ctx)
		return err == nil && info.State.Msgs == 0
	})
	for _, k := range []string{"a", "b.c"} {
		if _, err := plain.Get(ctx, k, ReadOptions{}); !errors.Is(err, ErrKeyNotFound) || errors.Is(err, ErrKeyDeleted) {
			t.Fatalf("%s after max age: %v", k, err)
		}
	}
	if info := must(plain.Info(ctx))(t); info.State.Last != 3 || info.State.Bytes != 0 || info.State.Keys != 0 {
		t.Fatalf("state after max age: %+v", info.State)
	}
	if _, err := plain.Keys(ctx, ReadOptions{}); !errors.Is(err, ErrNoKeysFound) {
		t.Fatalf("keys after max age: %v", err)
	}
	for _, k := range []string{"a", "b.c"} {
		if _, err := marked.Get(ctx, k, ReadOptions{}); !errors.Is(err, ErrKeyDeleted) {
			// The marker may already be gone if the machine stalled for a
			// whole second; then the key must read as never written.
			if !errors.Is(err, ErrKeyNotFound) {
				t.Fatalf("%s after max age with markers: %v", k, err)
			}
		}
	}
	// The markers age out too, without leaving new ones.
	waitFor(t, 10*time.Second, "the markers to age out", func() bool {
		info, err := marked.Info(ctx)
		return err == nil && info.State.Msgs == 0
	})
	if last := marked.state.LastSeq(); last != 5 {
		t.Fatalf("last revision %d, want 5 (3 puts + 2 markers)", last)
	}
}

func TestBatch(t *testing.T) {
	n := startNode(t, "")
	ctx := testCtx(t)
	b := mustBucket(t, n, BucketConfig{Name: "batch", History: 5})
	_, err := b.Batch(ctx, nil)
	wantErr(t, err, ErrInvalidRequest, 400, 10003)
	r0 := must(b.Put(ctx, "x", []byte("x0")))(t)
	must(b.Put(ctx, "gone", []byte("g")))(t)
	revs := must(b.Batch(ctx, []BatchOp{
		{Op: OpPut, Key: "a", Value: []byte("a1")},
		{Op: OpPut, Key: "b", Value: []byte("b1"), Create: true},
		{Op: OpPut, Key: "x", Value: []byte("x1"), LastRevision: r0},
		{Op: OpDelete, Key: "gone"},
		{Op: OpPut, Key: "a", Value: []byte("a2")},
		{Op: OpPurge, Key: "p"},
	}))(t)
	if len(revs) != 6 {
		t.Fatalf("revisions %v", revs)
	}
	for i, r := range revs {
		if r != r0+2+uint64(i) {
			t.Fatalf("batch revisions not consecutive: %v after %d", revs, r0+1)
		}
	}
	for k, want := range map[string]string{"a": "a2", "b": "b1", "x": "x1"} {
		if e := must(b.Get(ctx, k, ReadOptions{}))(t); string(e.Value) != want {
			t.Fatalf("%s: %+v", k, e)
		}
	}
	if _, err := b.Get(ctx, "gone", ReadOptions{}); !errors.Is(err, ErrKeyDeleted) {
		t.Fatalf("deleted in batch: %v", err)
	}
	if h := must(b.History(ctx, "a", ReadOptions{}))(t); len(h) != 2 {
		t.Fatalf("a's history %+v", h)
	}
	ra := revs[4]

	last := b.state.LastSeq()
	info := must(b.Info(ctx))(t)
	for _, tc := range []struct {
		name string
		ops  []BatchOp
		kind error
		idx  int
		msg  string
	}{
		{"create of existing key", []BatchOp{
			{Op: OpPut, Key: "n1", Value: []byte("v")},
			{Op: OpPut, Key: "a", Value: []byte("v"), Create: true},
		}, ErrWrongLastRevision, 1, fmt.Sprintf("wrong last sequence: %d", ra)},
		{"wrong last revision", []BatchOp{
			{Op: OpPut, Key: "n1", Value: []byte("v")},
			{Op: OpDelete, Key: "n2"},
			{Op: OpPut, Key: "a", Value: []byte("v"), LastRevision: ra - 1},
		}, ErrWrongLastRevision, 2, fmt.Sprintf("wrong last sequence: %d", ra)},
		{"create twice in one batch", []BatchOp{
			{Op: OpPut, Key: "n1", Value: []byte("v"), Create: true},
			{Op: OpPut, Key: "n1", Value: []byte("v"), Create: true},
		}, ErrWrongLastRevision, 1, fmt.Sprintf("wrong last sequence: %d", last+1)},
		{"expected revision inside the batch", []BatchOp{
			{Op: OpPut, Key: "n1", Value: []byte("v")},
			{Op: OpPut, Key: "n1", Value: []byte("v"), LastRevision: last},
		}, ErrWrongLastRevision, 1, fmt.Sprintf("wrong last sequence: %d", last+1)},
		{"purge with wrong revision", []BatchOp{
			{Op: OpPurge, Key: "b", LastRevision: 1},
		}, ErrWrongLastRevision, -1, fmt.Sprintf("wrong last sequence: %d", revs[1])},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := b.Batch(ctx, tc.ops)
			wantErr(t, err, tc.kind, 400, 10071, tc.msg)
			var pe *bucket.PublishError
			if tc.idx >= 0 {
				if !strings.Contains(err.Error(), fmt.Sprintf("operation %d", tc.idx)) {
					t.Fatalf("error does not name operation %d: %v", tc.idx, err)
				}
				if !errors.As(err, &pe) || pe.Index != tc.idx {
					t.Fatalf("error does not carry the failing index %d: %v", tc.idx, err)
				}
			}
			if b.state.LastSeq() != last {
				t.Fatalf("a failed batch consumed revisions")
			}
			if got := must(b.Info(ctx))(t); got.State.Msgs != info.State.Msgs || got.State.Bytes != info.State.Bytes {
				t.Fatalf("a failed batch changed the bucket: %+v vs %+v", got.State, info.State)
			}
			if _, err := b.Get(ctx, "n1", ReadOptions{}); !errors.Is(err, ErrKeyNotFound) {
				t.Fatalf("a failed batch stored n1: %v", err)
			}
		})
	}
	// Batches with a valid chain of expectations inside succeed.
	revs = must(b.Batch(ctx, []BatchOp{
		{Op: OpPut, Key: "n1", Value: []byte("v"), Create: true},
		{Op: OpPut, Key: "n1", Value: []byte("w"), LastRevision: last + 1},
		{Op: OpDelete, Key: "n1", LastRevision: last + 2},
		{Op: OpPut, Key: "n1", Value: []byte("z"), Create: true},
	}))(t)
	if !slices.Equal(revs, []uint64{last + 1, last + 2, last + 3, last + 4}) {
		t.Fatalf("chained batch revisions %v after %d", revs, last)
	}
}

// Revisions strictly increase across every kind of write, and a failed
// conditional write consumes none.
func TestRevisionsDense(t *testing.T) {
	n := startNode(t, "")
	ctx := testCtx(t)
	b := mustBucket(t, n, BucketConfig{Name: "dense", History: 2, MaxValueSize: 64})
	var last uint64
	ok := func(r uint64, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if r != last+1 {
			t.Fatalf("revision %d after %d", r, last)
		}
		last = r
	}
	fail := func(_ uint64, err error) {
		t.Helper()
		if err == nil {
			t.Fatal("want an error")
		}
		if got := b.state.LastSeq(); got != last {
			t.Fatalf("failed write moved the last revision %d -> %d", last, got)
		}
	}
	for i := range 20 {
		k := fmt.Sprintf("k%d", i%3)
		ok(b.Put(ctx, k, []byte("v")))
		fail(b.Create(ctx, k, nil, 0))
		fail(b.Update(ctx, k, nil, last-1))
		fail(b.Delete(ctx, k, RemoveOptions{LastRevision: last + 5}))
		fail(b.Purge(ctx, k, RemoveOptions{LastRevision: last + 7}))
		fail(b.Put(ctx, k, make([]byte, 65)))
		fail(b.Put(ctx, k+"..", nil))
		ok(b.Update(ctx, k, []byte("u"), last))
		ok(b.Delete(ctx, k, RemoveOptions{LastRevision: last}))
		ok(b.Create(ctx, k, []byte("c"), 0))
		ok(b.Purge(ctx, k, RemoveOptions{}))
		r, err := b.Batch(ctx, []BatchOp{{Op: OpPut, Key: k}, {Op: OpPut, Key: k + "x"}})
		if err == nil {
			ok(r[0], nil)
			ok(r[1], nil)
		} else {
			t.Fatal(err)
		}
	}
	if info := must(b.Info(ctx))(t); info.State.Last != last {
		t.Fatalf("info last %d want %d", info.State.Last, last)
	}
}

// Keys and Get never miss a key that holds a value while other writers
// are busy.
func TestReadsDuringWrites(t *testing.T) {
	n := startNode(t, "")
	ctx := testCtx(t)
	b := mustBucket(t, n, BucketConfig{Name: "rw", History: 1})
	must(b.Put(ctx, "stable", []byte("s")))(t)
	must(b.Put(ctx, "busy", []byte("0")))(t)
	// A bounded number of writes: every put of the hot key leaves a
	// version in Pebble's memtable that iterations step over.
	const writes = 1000
	done := make(chan error, 1)
	go func() {
		for i := range writes {
			if _, err := b.Put(ctx, "busy", []byte(fmt.Sprint(i))); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for i := 0; ; i++ {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			if i < 100 {
				t.Logf("only %d reads overlapped the writes", i)
			}
			return
		default:
		}
		keys, err := b.Keys(ctx, ReadOptions{Stale: true})
		if err != nil || !slices.Equal(keys, []string{"busy", "stable"}) {
			t.Fatalf("keys during writes: %v %v", keys, err)
		}
		if _, err := b.Get(ctx, "busy", ReadOptions{Stale: i%2 == 0}); err != nil {
			t.Fatalf("get during writes: %v", err)
		}
		if h, err := b.History(ctx, "busy", ReadOptions{Stale: true}); err != nil || len(h) != 1 {
			t.Fatalf("history during writes: %v %v", h, err)
		}
	}
}

func TestRestartKeepsState(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir)
	ctx := testCtx(t)
	b := mustBucket(t, n, BucketConfig{Name: "rs", History: 3})
	for i := range 10 {
		must(b.Put(ctx, fmt.Sprintf("k%d", i%4), []byte(fmt.Sprint(i))))(t)
	}
	must(b.Delete(ctx, "k1", RemoveOptions{}))(t)
	before := must(b.Info(ctx))(t)
	n.Close()
	_, err := b.Put(ctx, "k1", nil)
	wantErr(t, err, ErrBucketNotFound, 404, 10059)
	n = startNode(t, dir)
	b = must(n.Bucket("rs"))(t)
	after := must(b.Info(ctx))(t)
	if after.State.Msgs != before.State.Msgs || after.State.Bytes != before.State.Bytes || after.State.Last != before.State.Last ||
		after.State.First != before.State.First || after.State.Keys != before.State.Keys {
		t.Fatalf("state changed across restart: %+v vs %+v", before.State, after.State)
	}
	if r := must(b.Put(ctx, "k9", nil))(t); r != before.State.Last+1 {
		t.Fatalf("first revision after restart %d, last before %d", r, before.State.Last)
	}
}

// The remaining client errors and their JetStream codes.
func TestPurgeErrors(t *testing.T) {
	n := startNode(t, "")
	ctx := testCtx(t)
	b := mustBucket(t, n, BucketConfig{Name: "pe", History: 5})
	must(b.Put(ctx, "k", []byte("v")))(t)
	_, err := b.PurgeStream(ctx, bucket.PurgeRequest{Keep: 1, Seq: 2})
	wantErr(t, err, ErrInvalidRequest, 400, 10003, "mutually exclusive")
	_, err = b.PurgeStream(ctx, bucket.PurgeRequest{Filter: "a..b"})
	wantErr(t, err, ErrInvalidKey, 400, 10052)

	// A stream purge with keep and filter.
	for i := range 4 {
		must(b.Put(ctx, "k", []byte(fmt.Sprint(i))))(t)
	}
	must(b.Put(ctx, "other", []byte("o")))(t)
	if p := must(b.PurgeStream(ctx, bucket.PurgeRequest{Filter: "k", Keep: 2}))(t); p != 3 {
		t.Fatalf("purged %d", p)
	}
	if h := must(b.History(ctx, "k", ReadOptions{}))(t); len(h) != 2 || string(h[1].Value) != "3" {
		t.Fatalf("history after keep 2: %+v", h)
	}
	if p := must(b.PurgeStream(ctx, bucket.PurgeRequest{}))(t); p != 3 {
		t.Fatalf("purged all: %d", p)
	}
	if info := must(b.Info(ctx))(t); info.State.Msgs != 0 || info.State.Last != 6 {
		t.Fatalf("after purging all: %+v", info.State)
	}

	// deny_purge refuses purges and rollups (a KV purge is a rollup).
	d := mustBucket(t, n, BucketConfig{Name: "deny", DenyPurge: true})
	must(d.Put(ctx, "k", []byte("v")))(t)
	_, err = d.Purge(ctx, "k", RemoveOptions{})
	wantErr(t, err, ErrRollupDisabled, 500, 10111, "rollup not permitted")
	_, err = d.PurgeStream(ctx, bucket.PurgeRequest{})
	wantErr(t, err, ErrPurgeDenied, 500, 10110, "purge not permitted")
	must(d.Delete(ctx, "k", RemoveOptions{}))(t)
	_, err = d.PurgeDeletes(ctx, -1)
	wantErr(t, err, ErrPurgeDenied, 500, 10110)
	if info := must(d.Info(ctx))(t); info.State.Msgs != 1 || info.State.Last != 2 {
		t.Fatalf("deny-purge bucket changed: %+v", info.State)
	}
}

// PurgeDeletes never removes a value written after it listed the markers:
// a put racing with it survives.
func TestPurgeDeletesConcurrentPut(t *testing.T) {
	n := startNode(t, "")
	ctx := testCtx(t)
	b := mustBucket(t, n, BucketConfig{Name: "pdr", History: 5})
	for i := range 200 {
		k := fmt.Sprintf("k%d", i%10)
		must(b.Delete(ctx, k, RemoveOptions{}))(t)
		var wg sync.WaitGroup
		var rev uint64
		var perr, pderr error
		wg.Add(2)
		go func() { defer wg.Done(); rev, perr = b.Put(ctx, k, []byte(fmt.Sprint(i))) }()
		go func() { defer wg.Done(); _, pderr = b.PurgeDeletes(ctx, -1) }()
		wg.Wait()
		if perr != nil || pderr != nil {
			t.Fatal(perr, pderr)
		}
		if e, err := b.Get(ctx, k, ReadOptions{}); err != nil || e.Revision != rev {
			t.Fatalf("round %d: the put at %d was lost: %+v %v", i, rev, e, err)
		}
	}
}

// Expiry deadlines are state: they hold across a restart.
func TestExpiryAcrossRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	n := startNode(t, dir)
	ctx := testCtx(t)
	b := mustBucket(t, n, BucketConfig{Name: "ttlr", MarkerTTL: time.Second})
	a := mustBucket(t, n, BucketConfig{Name: "ager", MaxAge: time.Second})
	rk := must(b.Create(ctx, "k", []byte("v"), time.Second))(t)
	must(b.Put(ctx, "stays", []byte("v")))(t)
	must(a.Put(ctx, "k", []byte("v")))(t)
	n.Close()
	n = startNode(t, dir)
	b = must(n.Bucket("ttlr"))(t)
	a = must(n.Bucket("ager"))(t)
	waitFor(t, 10*time.Second, "k to expire after the restart", func() bool {
		e, err := b.Get(ctx, "k", ReadOptions{})
		return errors.Is(err, ErrKeyDeleted) && e.Op == OpPurge && e.Revision > rk
	})
	waitFor(t, 10*time.Second, "max age after the restart", func() bool {
		info, err := a.Info(ctx)
		return err == nil && info.State.Msgs == 0
	})
	if _, err := b.Get(ctx, "stays", ReadOptions{}); err != nil {
		t.Fatal(err)
	}
}

// A per-key TTL below the bucket's marker TTL is raised to it (header
// rewritten in whole seconds), as nats-server does, except with history 1.
func TestTTLRaisedToMarkerTTL(t *testing.T) {
	n := startNode(t, "")
	ctx := testCtx(t)
	for _, c := range []struct {
		history int64
		wantTTL time.Duration
		wantHdr string
	}{
		{5, 3 * time.Second, "Nats-TTL: 3\r\n"},
		{1, time.Second, "Nats-TTL: 1s\r\n"},
	} {
		b := mustBucket(t, n, BucketConfig{Name: fmt.Sprintf("raise%d", c.history), History: c.history, MarkerTTL: 3 * time.Second})
		rev, err := b.Create(ctx, "k", []byte("v"), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		m, err := b.Message(ctx, rev, ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if time.Duration(m.TTL) != c.wantTTL || !strings.Contains(string(m.Header), c.wantHdr) {
			t.Errorf("history %d: TTL %v header %q, want %v and %q", c.history, time.Duration(m.TTL), m.Header, c.wantTTL, c.wantHdr)
		}
	}
}
