package natsserver

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
)

func newSub(subject, queue, sid string) *subscription {
	return &subscription{subject: subject, queue: queue, sid: sid}
}

// sids renders a result as sorted sids, queue members as "q:sid".
func sids(r *matchResult) []string {
	var out []string
	for _, s := range r.psubs {
		out = append(out, s.sid)
	}
	for _, g := range r.qsubs {
		for _, s := range g {
			out = append(out, s.queue+":"+s.sid)
		}
	}
	slices.Sort(out)
	return out
}

func TestSublistMatch(t *testing.T) {
	sl := newSublist()
	for _, s := range []*subscription{
		newSub("foo", "", "1"),
		newSub("foo.bar", "", "2"),
		newSub("foo.*", "", "3"),
		newSub("foo.>", "", "4"),
		newSub(">", "", "5"),
		newSub("*.bar", "", "6"),
		newSub("foo.*.baz", "", "7"),
		newSub("foo.bar", "q", "8"),
		newSub("foo.bar", "q", "9"),
		newSub("foo.*", "r", "10"),
		newSub("$JS.API.CONSUMER.CREATE.*.>", "", "11"),
	} {
		sl.insert(s)
	}
	tests := []struct {
		subject string
		want    []string
	}{
		{"foo", []string{"1", "5"}},
		{"foo.bar", []string{"2", "3", "4", "5", "6", "q:8", "q:9", "r:10"}},
		{"foo.baz", []string{"3", "4", "5", "r:10"}},
		{"foo.bar.baz", []string{"4", "5", "7"}},
		{"foo.x.y.z", []string{"4", "5"}},
		{"bar", []string{"5"}},
		{"x.bar", []string{"5", "6"}},
		{"foo.*", []string{"3", "4", "5", "r:10"}}, // literal `*` token
		{"foo.>", []string{"3", "4", "5", "r:10"}},
		{"$JS.API.CONSUMER.CREATE.KV_T.c.$KV.T.>", []string{"11", "5"}},
		{"$JS.API.CONSUMER.CREATE.KV_T", []string{"5"}},
		{"foo..bar", nil},
		{".foo", nil},
	}
	for pass := 0; pass < 2; pass++ { // second pass hits the cache
		for _, tc := range tests {
			want := slices.Clone(tc.want)
			slices.Sort(want)
			if got := sids(sl.match([]byte(tc.subject))); !slices.Equal(got, want) {
				t.Errorf("pass %d: match(%q) = %v, want %v", pass, tc.subject, got, want)
			}
		}
	}
	if sl.len() != 11 {
		t.Fatalf("len = %d", sl.len())
	}
}

func TestSublistRemoveAndCache(t *testing.T) {
	sl := newSublist()
	a, b, c := newSub("a.b", "", "1"), newSub("a.*", "", "2"), newSub("a.>", "q", "3")
	sl.insert(a)
	if got := sids(sl.match([]byte("a.b"))); !slices.Equal(got, []string{"1"}) {
		t.Fatalf("got %v", got)
	}
	// Inserts must invalidate the cached result.
	sl.insert(b)
	sl.insert(c)
	if got := sids(sl.match([]byte("a.b"))); !slices.Equal(got, []string{"1", "2", "q:3"}) {
		t.Fatalf("after insert: %v", got)
	}
	if !sl.remove(b) || sl.remove(b) {
		t.Fatal("remove must report presence exactly once")
	}
	if got := sids(sl.match([]byte("a.b"))); !slices.Equal(got, []string{"1", "q:3"}) {
		t.Fatalf("after remove: %v", got)
	}
	sl.removeAll([]*subscription{a, c})
	if got := sl.match([]byte("a.b")); !got.empty() {
		t.Fatalf("after removeAll: %v", sids(got))
	}
	if sl.len() != 0 || !sl.root.isEmpty() {
		t.Fatalf("trie not pruned: len %d root %+v", sl.len(), sl.root)
	}
	// A sub that was never inserted, or whose path is partly shared.
	sl.insert(newSub("x.y", "", "9"))
	if sl.remove(newSub("x.y.z", "", "9")) || sl.remove(newSub("x.y", "", "9")) {
		t.Fatal("removed a subscription that was not inserted")
	}
}

func TestSublistBulkRemoveClearsCache(t *testing.T) {
	sl := newSublist()
	var subs []*subscription
	for i := range bulkClear + 5 {
		s := newSub(fmt.Sprintf("s.%d", i), "", fmt.Sprint(i))
		subs = append(subs, s)
		sl.insert(s)
	}
	for i := range subs {
		if sl.match(fmt.Appendf(nil, "s.%d", i)).empty() {
			t.Fatalf("s.%d: no match", i)
		}
	}
	sl.removeAll(subs)
	for i := range subs {
		if r := sl.match(fmt.Appendf(nil, "s.%d", i)); !r.empty() {
			t.Fatalf("s.%d: stale cache %v", i, sids(r))
		}
	}
}

func TestSublistCacheBounded(t *testing.T) {
	sl := newSublist()
	sl.insert(newSub(">", "", "1"))
	for i := range 5000 {
		sl.match(fmt.Appendf(nil, "subject.%d", i))
	}
	if n := len(sl.cache); n > sl.cacheMax {
		t.Fatalf("cache has %d entries, max %d", n, sl.cacheMax)
	}
}

func TestSubjectMatches(t *testing.T) {
	tests := []struct {
		pattern, subject string
		want             bool
	}{
		{"a", "a", true}, {"a", "b", false}, {"a.b", "a", false}, {"a", "a.b", false},
		{"*", "a", true}, {"*", "a.b", false}, {">", "a", true}, {">", "a.b.c", true},
		{"a.>", "a", false}, {"a.*.c", "a.b.c", true}, {"a.*.c", "a.b.d", false},
		{"a.*", "a.*", true}, {"a.b", "a.*", false}, {"a.>", "a..b", false},
	}
	for _, tc := range tests {
		if got := subjectMatches(tc.pattern, tc.subject); got != tc.want {
			t.Errorf("subjectMatches(%q, %q) = %v", tc.pattern, tc.subject, got)
		}
	}
}

// TestSublistMatchesAgree cross-checks the trie against subjectMatches.
func TestSublistMatchesAgree(t *testing.T) {
	patterns := []string{"a", "a.b", "a.*", "a.>", "*.b", "*.*", ">", "a.b.c", "a.*.c", "*.>", "b.>"}
	subjects := []string{"a", "b", "a.b", "a.c", "b.b", "a.b.c", "a.x.c", "a.b.d", "x.y.z.w", "a.*", "a.>"}
	sl := newSublist()
	for i, p := range patterns {
		sl.insert(newSub(p, "", fmt.Sprint(i)))
	}
	for _, s := range subjects {
		var want []string
		for i, p := range patterns {
			if subjectMatches(p, s) {
				want = append(want, fmt.Sprint(i))
			}
		}
		slices.Sort(want)
		if got := sids(sl.match([]byte(s))); !slices.Equal(got, want) {
			t.Errorf("%q: trie %v, subjectMatches %v", s, got, want)
		}
	}
}

func TestSublistConcurrent(t *testing.T) {
	sl := newSublist()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 500 {
				s := newSub(fmt.Sprintf("c.%d.%d", w, i%10), "", fmt.Sprint(i))
				sl.insert(s)
				sl.match(fmt.Appendf(nil, "c.%d.%d", w, i%10))
				if !sl.remove(s) {
					t.Error("lost a subscription")
				}
			}
		})
	}
	wg.Wait()
	if sl.len() != 0 {
		t.Fatalf("len %d", sl.len())
	}
}

// BenchmarkSublistMatch matches against 100k subscriptions shaped like
// a busy server's: per-connection inboxes plus service wildcards.
func BenchmarkSublistMatch(b *testing.B) {
	sl := newSublist()
	for i := range 100_000 {
		sl.insert(newSub(fmt.Sprintf("_INBOX.%08d.*", i), "", "1"))
	}
	for i := range 100 {
		sl.insert(newSub(fmt.Sprintf("$KV.b%d.>", i), "", "1"))
		sl.insert(newSub(fmt.Sprintf("$JS.API.STREAM.INFO.b%d", i), "q", "1"))
	}
	sl.insert(newSub("$JS.API.>", "", "1"))
	subjects := make([][]byte, 4096)
	for i := range subjects {
		subjects[i] = fmt.Appendf(nil, "_INBOX.%08d.abc%d", i*17%100_000, i)
	}
	b.Run("cached", func(b *testing.B) {
		subj := []byte("$KV.b7.some.key")
		b.ReportAllocs()
		for b.Loop() {
			sl.match(subj)
		}
	})
	b.Run("uncached", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			sl.match(subjects[i%len(subjects)])
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				sl.match(subjects[i%64])
				i++
			}
		})
	})
}

// TestSublistModel inserts, removes and matches at random and checks
// every match against a brute-force scan of the live subscriptions, so
// that the nodes' own results and the cache of merged ones are both
// shown to follow every change (including changes at a node whose own
// result was just used).
func TestSublistModel(t *testing.T) {
	toks := []string{"a", "b", "c"}
	rng := rand.New(rand.NewPCG(1, 2))
	pattern := func() string {
		n := 1 + rng.IntN(3)
		parts := make([]string, n)
		for i := range parts {
			switch r := rng.IntN(10); {
			case r == 0:
				parts[i] = "*"
			case r == 1 && i == n-1:
				parts[i] = ">"
			default:
				parts[i] = toks[rng.IntN(len(toks))]
			}
		}
		return strings.Join(parts, ".")
	}
	subject := func() string {
		n := 1 + rng.IntN(4)
		parts := make([]string, n)
		for i := range parts {
			parts[i] = toks[rng.IntN(len(toks))]
		}
		return strings.Join(parts, ".")
	}
	sl := newSublist()
	var live []*subscription
	for step := range 20000 {
		switch r := rng.IntN(10); {
		case r < 3 || len(live) == 0:
			queue := ""
			if rng.IntN(4) == 0 {
				queue = []string{"q", "r"}[rng.IntN(2)]
			}
			s := newSub(pattern(), queue, fmt.Sprint(step))
			sl.insert(s)
			live = append(live, s)
		case r < 5:
			i := rng.IntN(len(live))
			if !sl.remove(live[i]) {
				t.Fatalf("step %d: remove(%q) found nothing", step, live[i].subject)
			}
			live = slices.Delete(live, i, i+1)
		default:
			subj := subject()
			var want []string
			for _, s := range live {
				if subjectMatches(s.subject, subj) {
					if s.queue == "" {
						want = append(want, s.sid)
					} else {
						want = append(want, s.queue+":"+s.sid)
					}
				}
			}
			slices.Sort(want)
			if got := sids(sl.match([]byte(subj))); !slices.Equal(got, want) {
				t.Fatalf("step %d: match(%q) = %v, want %v", step, subj, got, want)
			}
		}
	}
	if sl.len() != len(live) {
		t.Fatalf("len %d, live %d", sl.len(), len(live))
	}
}
