package node

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cairnkv/cairn/storage/bucket"
)

// Cursors at one position share one storage scan per commit, and every
// cursor, sharing or not, delivers exactly what a scan of its own would:
// each revision of its filter still stored, once, in order, including
// past the bounds of one shared scan. History 1 makes overwrites remove
// revisions, which a cursor must then not deliver.
func TestCursorsShareLiveScans(t *testing.T) {
	n := startNode(t, "")
	b := mustBucket(t, n, BucketConfig{Name: "ls", History: 1})
	ctx := testCtx(t)
	rng := rand.New(rand.NewPCG(1, 2))

	type watcher struct {
		c       *Cursor
		filters []string
		seen    uint64 // last revision delivered or passed
		lazy    bool   // skips every other round, so it trails the others
	}
	var ws []*watcher
	for i := range 20 {
		var filters []string
		if i%2 == 1 {
			filters = []string{"a.>"}
		}
		c := must(b.OpenCursor(ctx, CursorConfig{Policy: DeliverNew, Filters: filters}))(t)
		t.Cleanup(c.Close)
		ws = append(ws, &watcher{c: c, filters: filters, lazy: i >= 18})
	}

	// want is what a scan of its own finds for w now.
	want := func(w *watcher) []uint64 {
		var out []uint64
		v := b.state.Live()
		if err := v.Scan(w.seen+1, func(m *bucket.Msg) bool {
			if bucket.MatchAny(w.filters, m.Key) {
				out = append(out, m.Seq)
			}
			return true
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	drain := func(w *watcher) []uint64 {
		var got []uint64
		for {
			m, _, ok, err := w.c.TryNext()
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				w.seen = b.state.LastSeq()
				return got
			}
			got = append(got, m.Seq)
		}
	}

	for round := range 12 {
		puts := 1 + rng.IntN(8)
		if round == 6 {
			puts = 2*liveScanMsgs + 100 // past one shared scan's bound
		}
		for i := range puts {
			key := fmt.Sprintf("%c.%d", "ab"[rng.IntN(2)], rng.IntN(40))
			if round == 6 {
				key = fmt.Sprintf("a.big%d", i)
			}
			if _, err := b.Put(ctx, key, []byte(key)); err != nil {
				t.Fatal(err)
			}
		}
		// Readers at one position share each scan: one per position,
		// or per liveScanMsgs revisions stored after it.
		wantScans := uint64(0)
		positions := map[uint64]bool{}
		for _, w := range ws {
			if (w.lazy && round%2 == 0) || positions[w.seen] {
				continue
			}
			positions[w.seen] = true
			stored := 0
			if err := b.state.Live().Scan(w.seen+1, func(*bucket.Msg) bool { stored++; return true }); err != nil {
				t.Fatal(err)
			}
			wantScans += uint64(max(1, (stored+liveScanMsgs-1)/liveScanMsgs))
		}
		before := b.scans.storageScans.Load()
		for _, w := range ws {
			if w.lazy && round%2 == 0 {
				continue
			}
			exp := want(w)
			if got := drain(w); !slices.Equal(got, exp) {
				t.Fatalf("round %d, filters %v: delivered %v, a scan of its own finds %v", round, w.filters, got, exp)
			}
		}
		if scans := b.scans.storageScans.Load() - before; scans != wantScans {
			t.Fatalf("round %d: %d storage scans for readers at %d positions, want %d", round, scans, len(positions), wantScans)
		}
	}
}
