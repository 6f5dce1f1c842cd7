package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// Watch semantics: initial values, the "initial values done" nil marker,
// live updates, filters, options, ordering under concurrency, slow and
// many watchers, deleted buckets.

// nextEntry returns the watcher's next entry, failing the test if none
// comes within a generous deadline.
func nextEntry(t testing.TB, w *Watcher) *Entry {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	e, err := w.Next(ctx)
	if err != nil {
		t.Fatalf("watch next: %v", err)
	}
	return e
}

type want struct {
	key string
	rev uint64
	op  Operation
	val string
}

func expectEntries(t testing.TB, w *Watcher, ws ...want) {
	t.Helper()
	for i, x := range ws {
		e := nextEntry(t, w)
		if x.key == "" {
			if e != nil {
				t.Fatalf("entry %d: want the initial-values marker, got %s@%d", i, e.Key, e.Revision)
			}
			continue
		}
		if e == nil {
			t.Fatalf("entry %d: want %s@%d, got the initial-values marker", i, x.key, x.rev)
		}
		if e.Key != x.key || e.Revision != x.rev || e.Op != x.op || string(e.Value) != x.val {
			t.Fatalf("entry %d: want %+v, got %s@%d %v %q", i, x, e.Key, e.Revision, e.Op, e.Value)
		}
	}
}

var marker = want{}

func put(k string, rev uint64, v string) want { return want{k, rev, OpPut, v} }
func del(k string, rev uint64) want           { return want{k, rev, OpDelete, ""} }
func pur(k string, rev uint64) want           { return want{k, rev, OpPurge, ""} }

func TestWatchInitialThenLive(t *testing.T) {
	n := startNode(t, "")
	ctx := testCtx(t)
	b := mustBucket(t, n, BucketConfig{Name: "w", History: 5})

	// An empty bucket: the marker comes at once.
	w0 := must(b.Watch(ctx, nil, WatchOptions{}))(t)
	defer w0.Close()
	expectEntries(t, w0, marker)

	must(b.Put(ctx, "a", []byte("1")))(t)        // 1
	must(b.Put(ctx, "b", []byte("2")))(t)        // 2
	must(b.Put(ctx, "a", []byte("3")))(t)        // 3
	must(b.Put(ctx, "c", []byte("4")))(t)        // 4
	must(b.Delete(ctx, "c", RemoveOptions{}))(t) // 5
	expectEntries(t, w0, put("a", 1, "1"), put("b", 2, "2"), put("a", 3, "3"), put("c", 4, "4"), del("c", 5))

	w := must(b.Watch(ctx, nil, WatchOptions{}))(t)
	defer w.Close()
	// The latest revision of each key in revision order, deltas counting
	// down, then the marker.
	for i, x := range []want{put("b", 2, "2"), put("a", 3, "3"), del("c", 5)} {
		e := nextEntry(t, w)
		if e == nil || e.Key != x.key || e.Revision != x.rev || e.Op != x.op || e.Delta != uint64(2-i) || e.Bucket != "w" {
			t.Fatalf("initial %d: want %+v delta %d, got %+v", i, x, 2-i, e)
		}
	}
	expectEntries(t, w, marker)
	must(b.Put(ctx, "d", []byte("6")))(t)
	must(b.Delete(ctx, "a", RemoveOptions{}))(t)
	must(b.Purge(ctx, "b", RemoveOptions{}))(t)
	must(b.Create(ctx, "c", []byte("9"), 0))(t)
	expectEntries(t, w, put("d", 6, "6"), del("a", 7), pur("b", 8), put("c", 9, "9"))
	expectEntries(t, w0, put("d", 6, "6"), del("a", 7), pur("b", 8), put("c", 9, "9"))

	// A watcher that has nothing to read waits for the next write.
	got := make(chan *Entry, 1)
	go func() {
		e, err := w.Next(ctx)
		if err != nil {
			t.Error(err)
		}
		got <- e
	}()
	must(b.Put(ctx, "e", []byte("10")))(t)
	if e := <-got; e == nil || e.Key != "e" || e.Revision != 10 {
		t.Fatalf("blocked watcher got %+v", e)
	}
}

func TestWatchFilters(t *testing.T) {
	n := startNode(t, "")
	ctx := testCtx(t)
	b := mustBucket(t, n, BucketConfig{Name: "wf", History: 10})
	keys := []string{"a", "a.b", "a.b.c", "a.x", "b.c", "b.c.d", "c"}
	revOf, valOf := map[string]uint64{}, map[string]string{}
	for _, k := range keys {
		revOf[k], valOf[k] = must(b.Put(ctx, k, []byte(k)))(t), k
	}
	for _, tc := range []struct {
		filters []string
		match   []string
	}{
		{nil, keys},
		{[]string{">"}, keys},
		{[]string{"*"}, []string{"a", "c"}},
		{[]string{"a"}, []string{"a"}},
		{[]string{"a.*"}, []string{"a.b", "a.x"}},
		{[]string{"a.>"}, []string{"a.b", "a.b.c", "a.x"}},
		{[]string{"*.b.*"}, []string{"a.b.c"}},
		{[]string{"*.c", "a.*.c"}, []string{"a.b.c", "b.c"}},
		{[]string{"a.b", "b.>", "c"}, []string{"a.b", "b.c", "b.c.d", "c"}},
		{[]string{"a.>", "a.b", "*.b.*"}, []string{"a.b", "a.b.c", "a.x"}},
		{[]string{"nothing.here"}, nil},
	} {
		t.Run(fmt.Sprint(tc.filters), func(t *testing.T) {
			w := must(b.Watch(ctx, tc.filters, WatchOptions{}))(t)
			defer w.Close()
			var initial []want
			for _, k := range tc.match {
				initial = append(initial, put(k, revOf[k], valOf[k]))
			}
			slices.SortFunc(initial, func(x, y want) int { return int(x.rev) - int(y.rev) })
			expectEntries(t, w, append(initial, marker)...)
			// Live: of writes to every key, only matching ones arrive,
			// in order.
			var live []want
			for _, k := range keys {
				rev := must(b.Put(ctx, k, []byte(k+"!")))(t)
				revOf[k], valOf[k] = rev, k+"!"
				if slices.Contains(tc.match, k) {
					live = append(live, put(k, rev, k+"!"))
				}
			}
			expectEntries(t, w, live...)
			// Nothing else is pending: a sentinel written now is next
			// for a matching watcher; a non-matching one gets nothing.
			if len(tc.match) > 0 {
				k := tc.match[0]
				rev := must(b.Put(ctx, k, []byte("s")))(t)
				revOf[k], valOf[k] = rev, "s"
				expectEntries(t, w, put(k, rev, "s"))
			} else {
				short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
				defer cancel()
				if e, err := w.Next(short); !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("a watcher matching nothing got %+v %v", e, err)
				}
			}
		})
	}
}

func TestWatchOptions(t *testing.T) {
	n := startNode(t, "")
	ctx := testCtx(t)
	b := mustBucket(t, n, BucketConfig{Name: "wo", History: 3})
	must(b.Put(ctx, "a", []byte("a1")))(t)       // 1
	must(b.Put(ctx, "b", []byte("b1")))(t)       // 2
	must(b.Put(ctx, "a", []byte("a2")))(t)       // 3
	must(b.Delete(ctx, "b", RemoveOptions{}))(t) // 4
	must(b.Put(ctx, "c.d", []byte("c1")))(t)     // 5
	must(b.Put(ctx, "a", []byte("a3")))(t)       // 6
	must(b.Put(ctx, "a", []byte("a4")))(t)       // 7: a1 rolls off

	t.Run("include history", func(t *testing.T) {
		w := must(b.Watch(ctx, nil, WatchOptions{IncludeHistory: true}))(t)
		defer w.Close()
		expectEntries(t, w, put("b", 2, "b1"), put("a", 3, "a2"), del("b", 4), put("c.d", 5, "c1"), put("a", 6, "a3"), put("a", 7, "a4"), marker)
		must(b.Put(ctx, "z", []byte("z")))(t) // 8
		expectEntries(t, w, put("z", 8, "z"))
		w2 := must(b.Watch(ctx, []string{"a"}, WatchOptions{IncludeHistory: true}))(t)
		defer w2.Close()
		// History 3: a1 rolled off.
		expectEntries(t, w2, put("a", 3, "a2"), put("a", 6, "a3"), put("a", 7, "a4"), marker)
	})
	t.Run("updates only", func(t *testing.T) {
		w := must(b.Watch(ctx, nil, WatchOptions{UpdatesOnly: true}))(t)
		defer w.Close()
		// No initial values and, as in nats.go, no marker.
		r := must(b.Put(ctx, "u", []byte("u")))(t)
		expectEntries(t, w, put("u", r, "u"))
		r = must(b.Delete(ctx, "u", RemoveOptions{}))(t)
		expectEntries(t, w, del("u", r))
	})
	t.Run("ignore deletes", func(t *testing.T) {
		last := b.state.LastSeq()
		w := must(b.Watch(ctx, []string{"b", "u", "c.d"}, WatchOptions{IgnoreDeletes: true}))(t)
		defer w.Close()
		// b and u are deleted: only c.d, then the marker (even though the
		// last initial revision was a delete).
		expectEntries(t, w, put("c.d", 5, "c1"), marker)
		must(b.Delete(ctx, "c.d", RemoveOptions{}))(t)
		must(b.Purge(ctx, "c.d", RemoveOptions{}))(t)
		r := must(b.Put(ctx, "b", []byte("back")))(t)
		if r != last+3 {
			t.Fatalf("revision %d", r)
		}
		expectEntries(t, w, put("b", r, "back"))
	})
	t.Run("meta only", func(t *testing.T) {
		w := must(b.Watch(ctx, []string{"a"}, WatchOptions{MetaOnly: true, IncludeHistory: true}))(t)
		defer w.Close()
		for _, rev := range []uint64{3, 6, 7} {
			e := nextEntry(t, w)
			if e == nil || e.Key != "a" || e.Revision != rev || e.Value != nil || e.Op != OpPut {
				t.Fatalf("meta-only entry %+v, want a@%d without value", e, rev)
			}
		}
		expectEntries(t, w, marker)
		r := must(b.Put(ctx, "a", []byte("a5")))(t)
		if e := nextEntry(t, w); e == nil || e.Revision != r || e.Value != nil {
			t.Fatalf("meta-only live entry %+v", e)
		}
	})
	t.Run("resume from revision", func(t *testing.T) {
		w := must(b.Watch(ctx, []string{"a", "c.d", "z"}, WatchOptions{ResumeFrom: 6}))(t)
		defer w.Close()
		// Revisions from 6 on that still exist and match, then the marker.
		var ws []want
		for _, e := range must(b.History(ctx, "a", ReadOptions{}))(t) {
			if e.Revision >= 6 {
				ws = append(ws, put("a", e.Revision, string(e.Value)))
			}
		}
		ws = append(ws, put("z", 8, "z"))
		slices.SortFunc(ws, func(x, y want) int { return int(x.rev) - int(y.rev) })
		hc := must(b.History(ctx, "c.d", ReadOptions{}))(t)
		ws = append(ws, pur("c.d", hc[0].Revision))
		slices.SortFunc(ws, func(x, y want) int { return int(x.rev) - int(y.rev) })
		expectEntries(t, w, append(ws, marker)...)
		r := must(b.Put(ctx, "z", []byte("z2")))(t)
		expectEntries(t, w, put("z", r, "z2"))

		// Resuming past the end: the marker, then live from that revision.
		last := b.state.LastSeq()
		w2 := must(b.Watch(ctx, nil, WatchOptions{ResumeFrom: last + 2}))(t)
		defer w2.Close()
		expectEntries(t, w2, marker)
		must(b.Put(ctx, "skip", []byte("1")))(t)
		r = must(b.Put(ctx, "take", []byte("2")))(t)
		expectEntries(t, w2, put("take", r, "2"))
		// Resume overrides updates-only and include-history.
		w3 := must(b.Watch(ctx, []string{"take"}, WatchOptions{ResumeFrom: r, UpdatesOnly: true, IncludeHistory: true}))(t)
		defer w3.Close()
		expectEntries(t, w3, put("take", r, "2"), marker)
	})
	t.Run("latest per key", func(t *testing.T) {
		w := must(b.Watch(ctx, []string{"*"}, WatchOptions{}))(t)
		defer w.Close()
		var n int
		for e := nextEntry(t, w); e != nil; e = nextEntry(t, w) {
			got := must(b.History(ctx, e.Key, ReadOptions{}))(t)
			if l := got[len(got)-1]; l.Revision != e.Revision {
				t.Fatalf("%s: watched %d, latest %d", e.Key, e.Revision, l.Revision)
			}
			n++
		}
		if n != 6 { // a b u z skip take
			t.Fatalf("%d keys", n)
		}
	})
}

// The initial set and the live part meet without a gap or a duplicate,
// even while writers are busy when the watch starts.
func TestWatchStartDuringWrites(t *testing.T) {
	n := startNode(t, "")
	ctx := testCtx(t)
	b := mustBucket(t, n, BucketConfig{Name: "wsd", History: 64})
	const nkeys = 40
	for i := range nkeys {
		must(b.Put(ctx, fmt.Sprintf("k.%d", i), []byte("0")))(t)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := b.Put(ctx, fmt.Sprintf("k.%d", (i*7+w)%nkeys), []byte(fmt.Sprint(i))); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()
	for round := range 30 {
		// Every key had a value before the watch started, so each is in
		// the initial set, before the marker.
		w := must(b.Watch(ctx, []string{"k.>"}, WatchOptions{}))(t)
		seen := map[string]bool{}
		var prev uint64
		for e := nextEntry(t, w); e != nil; e = nextEntry(t, w) {
			if e.Revision <= prev || seen[e.Key] {
				t.Fatalf("round %d: %s@%d after %d (seen %v)", round, e.Key, e.Revision, prev, seen[e.Key])
			}
			prev = e.Revision
			seen[e.Key] = true
		}
		if len(seen) != nkeys {
			t.Fatalf("round %d: initial set has %d keys, want %d", round, len(seen), nkeys)
		}
		// Then live, in order, continuing after the initial set.
		for range 20 {
			e := nextEntry(t, w)
			if e == nil || e.Revision <= prev {
				t.Fatalf("round %d: live %+v after %d", round, e, prev)
			}
			prev = e.Revision
		}
		w.Close()

		// With history: every revision once, in order, and the live part
		// continues right after the initial part. A revision may be
		// skipped only if it no longer exists (rolled off meanwhile).
		h := must(b.Watch(ctx, []string{"k.>"}, WatchOptions{IncludeHistory: true}))(t)
		prev = 0
		for e := nextEntry(t, h); e != nil; e = nextEntry(t, h) {
			if e.Revision <= prev {
				t.Fatalf("round %d: history %d after %d", round, e.Revision, prev)
			}
			prev = e.Revision
		}
		for range 20 {
			e := nextEntry(t, h)
			if e == nil || e.Revision <= prev {
				t.Fatalf("round %d: live %+v after %d", round, e, prev)
			}
			for r := prev + 1; r < e.Revision; r++ {
				if _, err := b.Message(ctx, r, ReadOptions{}); !errors.Is(err, ErrKeyNotFound) {
					t.Fatalf("round %d: revision %d skipped but exists (%v)", round, r, err)
				}
			}
			prev = e.Revision
		}
		h.Close()
	}
}

// Concurrent writers: every watcher gets every matching revision exactly
// once, in order.
func TestWatchConcurrentWriters(t *testing.T) {
	n := startNode(t, "")
	ctx := testCtx(t)
	b := mustBucket(t, n, BucketConfig{Name: "wc", History: 64})
	const writers, each = 8, 250
	type watch struct {
		filters []string
		match   func(writer int, key string) bool
	}
	watches := []watch{
		{nil, func(int, string) bool { return true }},
		{[]string{"w3.>"}, func(w int, _ string) bool { return w == 3 }},
		{[]string{"w1.>", "w2.*", "w5.k3"}, func(w int, k string) bool { return w == 1 || w == 2 || k == "w5.k3" }},
	}
	ws := make([]*Watcher, len(watches))
	for i, wt := range watches {
		ws[i] = must(b.Watch(ctx, wt.filters, WatchOptions{}))(t)
		defer ws[i].Close()
		expectEntries(t, ws[i], marker)
	}
	type rec struct {
		key string
		val string
	}
	var mu sync.Mutex
	written := map[uint64]rec{}
	byWriter := map[uint64]int{}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				k := fmt.Sprintf("w%d.k%d", w, i%10)
				v := fmt.Sprintf("%d/%d", w, i)
				r, err := b.Put(ctx, k, []byte(v))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				written[r] = rec{k, v}
				byWriter[r] = w
				mu.Unlock()
			}
		}()
	}
	// Consume while the writers write.
	got := make([][]*Entry, len(ws))
	var rg sync.WaitGroup
	for i, w := range ws {
		want := 0
		for wr := range writers {
			for j := range 10 {
				if watches[i].match(wr, fmt.Sprintf("w%d.k%d", wr, j)) {
					want += each / 10
				}
			}
		}
		rg.Add(1)
		go func() {
			defer rg.Done()
			for len(got[i]) < want {
				e, err := w.Next(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				got[i] = append(got[i], e)
			}
		}()
	}
	wg.Wait()
	rg.Wait()
	if t.Failed() {
		return
	}
	total := uint64(writers * each)
	if len(written) != int(total) {
		t.Fatalf("%d revisions written", len(written))
	}
	for i, es := range got {
		var expect []uint64
		for r := uint64(1); r <= total; r++ {
			if watches[i].match(byWriter[r], written[r].key) {
				expect = append(expect, r)
			}
		}
		if len(es) != len(expect) {
			t.Fatalf("watch %v: %d entries, want %d", watches[i].filters, len(es), len(expect))
		}
		for j, e := range es {
			if e == nil || e.Revision != expect[j] || e.Key != written[e.Revision].key || string(e.Value) != written[e.Revision].val {
				t.Fatalf("watch %v entry %d: %+v, want revision %d %+v", watches[i].filters, j, e, expect[j], written[expect[j]])
			}
		}
	}
}

// A watcher that reads slowly while thousands of writes happen is caught
// up from disk: it gets every revision that still exists when it reads
// it, in order, with the right value, and is never dropped.
func TestWatchSlowWatcher(t *testing.T) {
	n := startNode(t, "")
	ctx := testCtx(t)
	b := mustBucket(t, n, BucketConfig{Name: "slow", History: 4})
	w := must(b.Watch(ctx, nil, WatchOptions{IncludeHistory: true}))(t)
	defer w.Close()
	expectEntries(t, w, marker)
	const writers, each = 4, 1500
	var mu sync.Mutex
	written := map[uint64]string{}
	var wg sync.WaitGroup
	for wr := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				// Every fifth key is written once: it never rolls off.
				k := fmt.Sprintf("k.%d.%d", wr, i%20)
				if i%5 == 0 {
					k = fmt.Sprintf("once.%d.%d", wr, i)
				}
				v := fmt.Sprintf("%s=%d", k, i)
				r, err := b.Put(ctx, k, []byte(v))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				written[r] = v
				mu.Unlock()
			}
		}()
	}
	var got []*Entry
	// Read a little while the writers run, then nothing until they are
	// done, then the rest with pauses.
	for range 50 {
		got = append(got, nextEntry(t, w))
		time.Sleep(time.Millisecond)
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	last := b.state.LastSeq()
	for len(got) == 0 || got[len(got)-1].Revision < last {
		if len(got)%500 == 0 {
			time.Sleep(5 * time.Millisecond)
		}
		got = append(got, nextEntry(t, w))
	}
	var prev uint64
	delivered := map[uint64]bool{}
	for _, e := range got {
		if e == nil || e.Revision <= prev {
			t.Fatalf("entry %+v after %d", e, prev)
		}
		prev = e.Revision
		if string(e.Value) != written[e.Revision] {
			t.Fatalf("revision %d: value %q, written %q", e.Revision, e.Value, written[e.Revision])
		}
		delivered[e.Revision] = true
	}
	// Everything that still exists was delivered, including every
	// write-once key.
	keys := must(b.Keys(ctx, ReadOptions{}))(t)
	once := 0
	for _, k := range keys {
		for _, h := range must(b.History(ctx, k, ReadOptions{}))(t) {
			if !delivered[h.Revision] {
				t.Fatalf("revision %d of %s still exists but was not delivered", h.Revision, k)
			}
		}
		if k[:4] == "once" {
			once++
		}
	}
	if once != writers*each/5 {
		t.Fatalf("%d write-once keys", once)
	}
	if len(got) < writers*each/5 {
		t.Fatalf("only %d revisions delivered", len(got))
	}
}

// Many watchers at once each receive a whole burst, in order.
func TestWatchManyWatchers(t *testing.T) {
	n := startNode(t, "")
	ctx := testCtx(t)
	b := mustBucket(t, n, BucketConfig{Name: "many", History: 64})
	const watchers, burst = 1000, 40
	ws := make([]*Watcher, watchers)
	for i := range ws {
		opts := WatchOptions{}
		if i%2 == 1 {
			opts.UpdatesOnly = true
		}
		ws[i] = must(b.Watch(ctx, nil, opts))(t)
		defer ws[i].Close()
	}
	var wg sync.WaitGroup
	errs := make(chan error, watchers)
	for i, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				if e, err := w.Next(ctx); err != nil || e != nil {
					errs <- fmt.Errorf("watcher %d: want the marker, got %+v %v", i, e, err)
					return
				}
			}
			for r := uint64(1); r <= burst; r++ {
				e, err := w.Next(ctx)
				if err != nil {
					errs <- fmt.Errorf("watcher %d: %w", i, err)
					return
				}
				if e == nil || e.Revision != r || e.Key != fmt.Sprintf("k.%d", (r-1)%8) {
					errs <- fmt.Errorf("watcher %d: want revision %d, got %+v", i, r, e)
					return
				}
			}
		}()
	}
	for i := range burst {
		must(b.Put(ctx, fmt.Sprintf("k.%d", i%8), []byte(fmt.Sprint(i))))(t)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestWatchBucketDeleted(t *testing.T) {
	n := startNode(t, "")
	ctx := testCtx(t)
	b := mustBucket(t, n, BucketConfig{Name: "wd"})
	for i := range 5 {
		must(b.Put(ctx, fmt.Sprintf("k%d", i), []byte("v")))(t)
	}
	// One watcher waits for live updates; one is still in its initial set.
	live := must(b.Watch(ctx, nil, WatchOptions{UpdatesOnly: true}))(t)
	defer live.Close()
	initial := must(b.Watch(ctx, nil, WatchOptions{}))(t)
	defer initial.Close()
	nextEntry(t, initial)
	done := make(chan error, 1)
	go func() {
		_, err := live.Next(ctx)
		done <- err
	}()
	mustDo(t, n.DeleteBucket(ctx, "wd"))
	select {
	case err := <-done:
		wantErr(t, err, ErrBucketNotFound, 404, 10059)
	case <-time.After(20 * time.Second):
		t.Fatal("the watcher did not end when its bucket was deleted")
	}
	_, err := initial.Next(ctx)
	wantErr(t, err, ErrBucketNotFound, 404, 10059)
	// A recreated bucket of the same name is a different bucket: the old
	// watchers stay ended.
	nb := mustBucket(t, n, BucketConfig{Name: "wd"})
	must(nb.Put(ctx, "k0", []byte("new")))(t)
	_, err = live.Next(ctx)
	wantErr(t, err, ErrBucketNotFound, 404, 10059)
}

// A watch resumed after a restart from the revision after the last one
// delivered continues exactly where the old one stopped.
func TestWatchResumeAfterRestart(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir)
	ctx := testCtx(t)
	b := mustBucket(t, n, BucketConfig{Name: "wr", History: 10})
	w := must(b.Watch(ctx, []string{"a.>"}, WatchOptions{UpdatesOnly: true}))(t)
	var lastSeen uint64
	for i := range 20 {
		must(b.Put(ctx, fmt.Sprintf("a.%d", i%3), []byte(fmt.Sprint(i))))(t)
		must(b.Put(ctx, "b", []byte(fmt.Sprint(i))))(t)
	}
	for range 10 {
		lastSeen = nextEntry(t, w).Revision
	}
	n.Close()
	if _, err := w.Next(ctx); !errors.Is(err, ErrBucketNotFound) {
		t.Fatalf("watcher of a closed node: %v", err)
	}
	n = startNode(t, dir)
	b = must(n.Bucket("wr"))(t)
	w = must(b.Watch(ctx, []string{"a.>"}, WatchOptions{ResumeFrom: lastSeen + 1}))(t)
	defer w.Close()
	prev := lastSeen
	for e := nextEntry(t, w); e != nil; e = nextEntry(t, w) {
		if e.Revision <= prev || e.Key == "b" {
			t.Fatalf("resumed %+v after %d", e, prev)
		}
		prev = e.Revision
	}
	if prev != b.state.LastSeq()-1 {
		t.Fatalf("resumed watch ended its initial part at %d, last a.* revision is %d", prev, b.state.LastSeq()-1)
	}
}
