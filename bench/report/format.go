package report

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// Rate formats operations per second with thousands separators, or with
// two significant decimals below 10.
func Rate(x float64) string {
	if x < 10 {
		return fmt.Sprintf("%.2f", x)
	}
	return thousands(x)
}

func thousands(x float64) string {
	s := fmt.Sprintf("%.0f", math.Abs(x))
	var out []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if x < 0 {
		return "-" + string(out)
	}
	return string(out)
}

// Micros formats a latency given in microseconds: "850 µs", "1.23 ms",
// "2.50 s".
func Micros(us float64) string {
	switch {
	case us < 1000:
		return fmt.Sprintf("%.0f µs", us)
	case us < 10_000:
		return fmt.Sprintf("%.2f ms", us/1000)
	case us < 100_000:
		return fmt.Sprintf("%.1f ms", us/1000)
	case us < 1_000_000:
		return fmt.Sprintf("%.0f ms", us/1000)
	default:
		return fmt.Sprintf("%.2f s", us/1e6)
	}
}

// Bytes formats a byte rate: "1.5 MB/s" (decimal units).
func Bytes(b float64) string {
	switch {
	case b >= 1e9:
		return fmt.Sprintf("%.2f GB/s", b/1e9)
	case b >= 1e6:
		return fmt.Sprintf("%.1f MB/s", b/1e6)
	case b >= 1e3:
		return fmt.Sprintf("%.1f kB/s", b/1e3)
	default:
		return fmt.Sprintf("%.0f B/s", b)
	}
}

// Ratio formats a/b as "1.52×", or "—" when it is undefined.
func Ratio(a, b float64) string {
	if a <= 0 || b <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

// classes lists error classes with counts, largest first.
func classes(m map[string]int64) string {
	type kv struct {
		k string
		v int64
	}
	var xs []kv
	for k, v := range m {
		xs = append(xs, kv{k, v})
	}
	sort.Slice(xs, func(i, j int) bool {
		if xs[i].v != xs[j].v {
			return xs[i].v > xs[j].v
		}
		return xs[i].k < xs[j].k
	})
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf("%s %d", x.k, x.v)
	}
	return strings.Join(parts, ", ")
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
