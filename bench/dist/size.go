package dist

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
)

// Size is a value size distribution: fixed (Min == Max) or uniform over
// [Min, Max].
type Size struct {
	Min, Max int
}

// Fixed is a distribution that always yields n.
func Fixed(n int) Size { return Size{Min: n, Max: n} }

// ParseSize reads "128", "4KiB", "1k" (a fixed size) or "64-1024",
// "1KiB-64KiB" (uniform between the two, inclusive). Units: B, K/KB/KiB
// (1024), M/MB/MiB (1024²); case is ignored.
func ParseSize(s string) (Size, error) {
	lo, hi, isRange := strings.Cut(strings.TrimSpace(s), "-")
	min, err := parseBytes(lo)
	if err != nil {
		return Size{}, fmt.Errorf("value size %q: %w", s, err)
	}
	max := min
	if isRange {
		if max, err = parseBytes(hi); err != nil {
			return Size{}, fmt.Errorf("value size %q: %w", s, err)
		}
	}
	if max < min {
		return Size{}, fmt.Errorf("value size %q: the upper bound is below the lower", s)
	}
	return Size{Min: min, Max: max}, nil
}

func parseBytes(s string) (int, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	mult := 1
	for _, u := range []struct {
		suffix string
		mult   int
	}{{"kib", 1 << 10}, {"mib", 1 << 20}, {"kb", 1 << 10}, {"mb", 1 << 20}, {"k", 1 << 10}, {"m", 1 << 20}, {"b", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a byte count", s)
	}
	return n * mult, nil
}

// Next draws a size.
func (s Size) Next(r *rand.Rand) int {
	if s.Max <= s.Min {
		return s.Min
	}
	return s.Min + r.IntN(s.Max-s.Min+1)
}

// Mean is the expected size.
func (s Size) Mean() float64 { return float64(s.Min+s.Max) / 2 }

// String is the form ParseSize reads.
func (s Size) String() string {
	if s.Min == s.Max {
		return strconv.Itoa(s.Min)
	}
	return fmt.Sprintf("%d-%d", s.Min, s.Max)
}
