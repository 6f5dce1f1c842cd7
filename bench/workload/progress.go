package workload

import (
	"fmt"
	"strings"
	"time"
)

// Progress is a live report of a running benchmark.
type Progress struct {
	Target, Workload string
	// Phase is setup, load, warmup, run, drain or cleanup.
	Phase string
	// Done of Total: keys loaded, ops of an op-bounded run, deliveries
	// drained, buckets removed; in a timed run Total is its seconds.
	Done, Total int64
	Elapsed     time.Duration
	Remaining   time.Duration
	// Over the last interval:
	OpsPerSec float64
	P99       time.Duration
	// Errors counted so far (warm-up included).
	Errors int64
}

// String is the one-line form shown on stderr.
func (p Progress) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %-6s", p.Target, p.Workload, p.Phase)
	switch p.Phase {
	case "setup":
	case "load", "drain", "cleanup":
		fmt.Fprintf(&b, " %d/%d", p.Done, p.Total)
	default:
		if p.Phase == "run" {
			fmt.Fprintf(&b, " %s", round(p.Elapsed))
		}
		fmt.Fprintf(&b, " %s ops/s  p99 %s  errors %d", Thousands(p.OpsPerSec), round(p.P99), p.Errors)
		if p.Remaining > 0 {
			fmt.Fprintf(&b, "  %s left", round(p.Remaining))
		}
	}
	return strings.TrimRight(b.String(), " ")
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Second:
		return d.Round(time.Second)
	case d >= time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= 10*time.Millisecond:
		return d.Round(time.Millisecond)
	default:
		return d.Round(10 * time.Microsecond)
	}
}

// Thousands formats x rounded to an integer with thousands separators.
func Thousands(x float64) string {
	s := fmt.Sprintf("%.0f", x)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}
