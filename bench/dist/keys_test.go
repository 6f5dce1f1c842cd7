package dist

import (
	"math"
	"testing"
)

func counts(t *testing.T, c Chooser, n uint64, draws int) []int {
	t.Helper()
	got := make([]int, n)
	for i := 0; i < draws; i++ {
		k := c.Next()
		if k >= n {
			t.Fatalf("draw %d: key %d outside [0,%d)", i, k, n)
		}
		got[k]++
	}
	return got
}

func mustTable(t *testing.T, s Spec, c *Counter) *Table {
	t.Helper()
	tb, err := NewTable(s, c)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

// Uniform: a chi-square test with n-1 = 99 degrees of freedom; 150 is
// beyond the 99.9th percentile (≈148.2), and the seed is fixed.
func TestUniformChiSquare(t *testing.T) {
	const n, draws = 100, 200000
	got := counts(t, mustTable(t, Spec{Kind: Uniform, Keys: n}, nil).Chooser(NewRand(1, 0)), n, draws)
	want := float64(draws) / n
	chi := 0.0
	for _, c := range got {
		d := float64(c) - want
		chi += d * d / want
	}
	if chi > 150 {
		t.Fatalf("chi-square %.1f over 99 degrees of freedom: not uniform", chi)
	}
}

// theoretical zipfian probability of item i (0-based) out of n.
func zipfP(i, n int) float64 {
	z := 0.0
	for k := 1; k <= n; k++ {
		z += 1 / math.Pow(float64(k), ZipfianConstant)
	}
	return 1 / math.Pow(float64(i+1), ZipfianConstant) / z
}

func TestZipfianMatchesTheory(t *testing.T) {
	const n, draws = 1000, 400000
	got := counts(t, mustTable(t, Spec{Kind: Zipfian, Keys: n}, nil).Chooser(NewRand(7, 0)), n, draws)
	// Items 0 and 1 are exact in Gray's generator; the rest follow the
	// curve approximately. Check the head items and the mass of the top
	// 1% and 10%.
	for _, i := range []int{0, 1} {
		p := float64(got[i]) / draws
		if want := zipfP(i, n); math.Abs(p-want)/want > 0.03 {
			t.Errorf("item %d: frequency %.4f, theory %.4f", i, p, want)
		}
	}
	for _, top := range []int{10, 100} {
		var gotMass, wantMass float64
		for i := 0; i < top; i++ {
			gotMass += float64(got[i]) / draws
			wantMass += zipfP(i, n)
		}
		if math.Abs(gotMass-wantMass) > 0.03 {
			t.Errorf("top %d items: mass %.3f, theory %.3f", top, gotMass, wantMass)
		}
	}
	if got[0] <= got[10] || got[10] <= got[500] {
		t.Errorf("frequencies do not fall with rank: %d, %d, %d", got[0], got[10], got[500])
	}
}

// Scrambling is a bijection: the sorted frequencies are those of the
// plain generator drawn with the same seed, and item 0 is no longer the
// most popular key.
func TestScrambledZipfianIsAPermutation(t *testing.T) {
	const n, draws = 997, 50000
	plain := mustTable(t, Spec{Kind: Zipfian, Keys: n}, nil).Chooser(NewRand(3, 0))
	scr := mustTable(t, Spec{Kind: Zipfian, Keys: n, Scrambled: true}, nil).Chooser(NewRand(3, 0))
	images := map[uint64]uint64{}
	for i := 0; i < draws; i++ {
		p, s := plain.Next(), scr.Next()
		if prev, ok := images[p]; ok && prev != s {
			t.Fatalf("item %d mapped to both %d and %d", p, prev, s)
		}
		images[p] = s
	}
	seen := map[uint64]bool{}
	for _, s := range images {
		if seen[s] {
			t.Fatalf("two items map to key %d", s)
		}
		seen[s] = true
	}
	if images[0] == 0 {
		t.Error("the hottest item stayed at key 0")
	}
	for _, n := range []uint64{1, 2, 10, 1 << 20} {
		s := newScrambled(uniform{n: n, r: NewRand(1, 1)}, n)
		for i := 0; i < 100; i++ {
			if k := s.Next(); k >= n {
				t.Fatalf("n=%d: key %d out of range", n, k)
			}
		}
	}
}

// Latest follows inserts: the newest key is the most popular, and keys
// inserted after the chooser was made are chosen.
func TestLatestFollowsInserts(t *testing.T) {
	cnt := NewCounter(100)
	c := mustTable(t, Spec{Kind: Latest, Keys: 100}, cnt).Chooser(NewRand(5, 0))
	got := counts(t, c, 100, 50000)
	if best := argmax(got); best != 99 {
		t.Fatalf("most chosen key %d, want the newest (99)", best)
	}
	if p, want := float64(got[99])/50000, zipfP(0, 100); math.Abs(p-want)/want > 0.05 {
		t.Errorf("newest key frequency %.4f, theory %.4f", p, want)
	}
	for i := 0; i < 50; i++ {
		cnt.Next()
	}
	got = counts(t, c, 150, 50000)
	if best := argmax(got); best != 149 {
		t.Fatalf("after 50 inserts the most chosen key is %d, want 149", best)
	}
}

func argmax(xs []int) int {
	best := 0
	for i, x := range xs {
		if x > xs[best] {
			best = i
		}
	}
	return best
}

// The same seed and stream give the same keys; another stream differs.
func TestChoosersAreReproducible(t *testing.T) {
	for _, k := range []Kind{Uniform, Zipfian, Latest} {
		tb := mustTable(t, Spec{Kind: k, Keys: 10000, Scrambled: true}, NewCounter(10000))
		a, b, c := tb.Chooser(NewRand(42, 1)), tb.Chooser(NewRand(42, 1)), tb.Chooser(NewRand(42, 2))
		same, differ := true, false
		for i := 0; i < 1000; i++ {
			x, y, z := a.Next(), b.Next(), c.Next()
			same = same && x == y
			differ = differ || x != z
		}
		if !same || !differ {
			t.Errorf("%s: same seed reproduces=%v, other stream differs=%v", k, same, differ)
		}
	}
}

func TestParseKindAndTableErrors(t *testing.T) {
	if k, err := ParseKind(" Zipfian "); err != nil || k != Zipfian {
		t.Fatalf("ParseKind: %v %v", k, err)
	}
	if _, err := ParseKind("hotspot"); err == nil {
		t.Fatal("hotspot accepted")
	}
	if _, err := NewTable(Spec{Kind: Uniform}, nil); err == nil {
		t.Fatal("empty key space accepted")
	}
	if _, err := NewTable(Spec{Kind: Latest, Keys: 5}, nil); err == nil {
		t.Fatal("latest without a counter accepted")
	}
}
