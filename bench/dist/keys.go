package dist

import (
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"strings"
	"sync/atomic"
)

// Kind names a key distribution.
type Kind string

// The key distributions.
const (
	// Uniform picks every key with the same probability.
	Uniform Kind = "uniform"
	// Zipfian picks key i with probability proportional to 1/(i+1)^θ,
	// θ = ZipfianConstant, so a few keys take most operations.
	Zipfian Kind = "zipfian"
	// Latest is zipfian over recency: the most recently inserted key is
	// the most popular (YCSB workload D).
	Latest Kind = "latest"
)

// ZipfianConstant is YCSB's default skew (θ = 0.99).
const ZipfianConstant = 0.99

// ParseKind accepts uniform, zipfian and latest (any case).
func ParseKind(s string) (Kind, error) {
	switch k := Kind(strings.ToLower(strings.TrimSpace(s))); k {
	case Uniform, Zipfian, Latest:
		return k, nil
	default:
		return "", fmt.Errorf("key distribution %q is not uniform, zipfian or latest", s)
	}
}

// Chooser picks key indexes. Implementations are not safe for concurrent
// use.
type Chooser interface {
	Next() uint64
}

// Counter is the number of keys that exist, shared by the workers of a run
// so that inserts grow the key space that reads choose from.
type Counter struct{ n atomic.Uint64 }

// NewCounter returns a counter starting at n keys.
func NewCounter(n uint64) *Counter {
	c := &Counter{}
	c.n.Store(n)
	return c
}

// Load is the current number of keys.
func (c *Counter) Load() uint64 { return c.n.Load() }

// Next reserves a new key index (for an insert) and returns it.
func (c *Counter) Next() uint64 { return c.n.Add(1) - 1 }

// Set makes the key count n.
func (c *Counter) Set(n uint64) { c.n.Store(n) }

// Spec describes a key distribution over a key space.
type Spec struct {
	Kind Kind
	// Keys is the size of the key space at the start.
	Keys uint64
	// Scrambled spreads zipfian's popular keys over the key space instead
	// of keeping them at the lowest indexes (YCSB's default for its core
	// workloads). Ignored for uniform and latest.
	Scrambled bool
}

// Table is the shared, read-only part of a distribution (zipfian's zeta
// sum is O(keys) to compute), built once per run and used to make one
// Chooser per worker.
type Table struct {
	spec  Spec
	zipf  *zipfTable
	count *Counter
}

// NewTable validates s and precomputes what its choosers share. count is
// the live key count for Latest (and may be nil otherwise).
func NewTable(s Spec, count *Counter) (*Table, error) {
	if s.Keys == 0 {
		return nil, fmt.Errorf("key space must hold at least one key")
	}
	t := &Table{spec: s, count: count}
	switch s.Kind {
	case Uniform:
	case Zipfian, Latest:
		t.zipf = newZipfTable(s.Keys, ZipfianConstant)
		if s.Kind == Latest && count == nil {
			return nil, fmt.Errorf("latest distribution needs a key counter")
		}
	default:
		return nil, fmt.Errorf("unknown key distribution %q", s.Kind)
	}
	return t, nil
}

// Chooser returns a new generator drawing from r.
func (t *Table) Chooser(r *rand.Rand) Chooser {
	switch t.spec.Kind {
	case Zipfian:
		z := &zipfian{t: *t.zipf, r: r}
		if t.spec.Scrambled {
			return newScrambled(z, t.spec.Keys)
		}
		return z
	case Latest:
		return &latest{z: zipfian{t: *t.zipf, r: r}, count: t.count}
	default:
		return uniform{n: t.spec.Keys, r: r}
	}
}

type uniform struct {
	n uint64
	r *rand.Rand
}

func (u uniform) Next() uint64 { return u.r.Uint64N(u.n) }

// zipfTable holds the constants of Gray et al.'s generator for n items
// ("Quickly Generating Billion-Record Synthetic Databases", SIGMOD 1994),
// the algorithm YCSB uses.
type zipfTable struct {
	n     uint64
	theta float64
	zetan float64 // Σ_{i=1..n} 1/i^θ
	zeta2 float64
	alpha float64
	eta   float64
}

func newZipfTable(n uint64, theta float64) *zipfTable {
	t := &zipfTable{theta: theta, zeta2: zeta(0, 2, theta, 0), alpha: 1 / (1 - theta)}
	t.grow(n)
	return t
}

// zeta adds Σ_{i=from+1..to} 1/i^θ to sum.
func zeta(from, to uint64, theta, sum float64) float64 {
	for i := from + 1; i <= to; i++ {
		sum += 1 / math.Pow(float64(i), theta)
	}
	return sum
}

// grow extends the table to n items incrementally (for Latest, whose key
// space grows with inserts).
func (t *zipfTable) grow(n uint64) {
	if n <= t.n {
		return
	}
	t.zetan = zeta(t.n, n, t.theta, t.zetan)
	t.n = n
	t.eta = (1 - math.Pow(2/float64(n), 1-t.theta)) / (1 - t.zeta2/t.zetan)
}

// next maps a uniform u in [0,1) to an item in [0,n), item 0 the most
// popular.
func (t *zipfTable) next(u float64) uint64 {
	uz := u * t.zetan
	if uz < 1 {
		return 0
	}
	if uz < 1+math.Pow(0.5, t.theta) {
		return min(1, t.n-1)
	}
	v := uint64(float64(t.n) * math.Pow(t.eta*u-t.eta+1, t.alpha))
	return min(v, t.n-1)
}

type zipfian struct {
	t zipfTable // a copy: Latest grows its own
	r *rand.Rand
}

func (z *zipfian) Next() uint64 { return z.t.next(z.r.Float64()) }

// latest picks recently inserted keys: the newest key is item 0 of a
// zipfian over the current key count.
type latest struct {
	z     zipfian
	count *Counter
}

func (l *latest) Next() uint64 {
	n := l.count.Load()
	if n == 0 {
		return 0
	}
	l.z.t.grow(n)
	// The table may be larger than n if another worker's count was
	// read later; clamp.
	return n - 1 - min(l.z.t.next(l.z.r.Float64()), n-1)
}

// scrambled maps item i to (a·i + b) mod n with gcd(a, n) = 1: a bijection,
// so each key keeps exactly its zipfian probability, but the popular keys
// are spread over the key space rather than clustered at its start.
type scrambled struct {
	inner Chooser
	n     uint64
	a, b  uint64
}

func newScrambled(inner Chooser, n uint64) *scrambled {
	// A multiplier near n/φ gives well-spread images; step to the next
	// value coprime with n.
	a := uint64(float64(n)*0.6180339887) | 1
	for gcd(a, n) != 1 {
		a++
	}
	return &scrambled{inner: inner, n: n, a: a, b: n / 3}
}

func (s *scrambled) Next() uint64 {
	i := s.inner.Next()
	if s.n <= 1 {
		return 0
	}
	hi, lo := bits.Mul64(s.a, i%s.n)
	return (bits.Rem64(hi, lo, s.n) + s.b) % s.n
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
