package report

import (
	"bytes"
	"strings"
	"testing"
)

// With several rounds, a target's cells come from its median round and
// a ratio is the median of the round-by-round ratios, with their range,
// over the rounds in which both targets have figures.
func TestRoundsShowMediansAndRanges(t *testing.T) {
	r := &Result{Schema: SchemaVersion, Targets: []Target{{Name: "cairn"}, {Name: "nats"}}}
	add := func(round int, target, wl string, rate, p99 float64) *Run {
		r.Runs = append(r.Runs, Run{Round: round, Target: target, Workload: wl, Params: params(64), Elapsed: 10,
			Ops: int64(rate * 10), OpsPerSec: rate, Latency: lat(p99/3, p99)})
		return &r.Runs[len(r.Runs)-1]
	}
	// put: cairn ÷ nats is 0.50, 1.50 and 1.00 by round.
	add(1, "cairn", "put", 100, 3000)
	add(1, "nats", "put", 200, 1000)
	add(2, "nats", "put", 200, 2000)
	add(2, "cairn", "put", 300, 1000)
	add(3, "cairn", "put", 200, 2000)
	add(3, "nats", "put", 200, 2000)
	// get: nats failed in round 2, so two ratios remain (2.00 and 3.00).
	add(1, "cairn", "get", 200, 1000)
	add(1, "nats", "get", 100, 1000)
	add(2, "cairn", "get", 900, 1000)
	add(2, "nats", "get", 0, 0).Failed = "connection refused"
	add(3, "cairn", "get", 300, 1000)
	add(3, "nats", "get", 100, 1000)

	if r.Rounds() != 3 || len(r.FindAll("cairn", "put")) != 3 {
		t.Fatalf("rounds %d, cairn puts %d", r.Rounds(), len(r.FindAll("cairn", "put")))
	}
	tests := []struct {
		target, wl string
		want       float64
	}{
		{"cairn", "put", 200}, // of 100, 300, 200
		{"nats", "put", 200},
		{"cairn", "get", 300}, // of 200, 900, 300
		{"nats", "get", 100},  // the failed round does not count
	}
	for _, tc := range tests {
		if run, ok := r.Median(tc.target, tc.wl); !ok || run.OpsPerSec != tc.want {
			t.Errorf("median %s %s: %v, want %v", tc.target, tc.wl, run.OpsPerSec, tc.want)
		}
	}
	var b bytes.Buffer
	if err := WriteMarkdown(&b, r); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"| put | 200 /s | 200 /s | 1.00× (0.50–1.50, 3 rounds) |",
		"| get | 300 /s | 100 /s | 2.50× (2.00–3.00, 2 rounds) |",
		// p99 ratios by round: 3.00, 0.50, 1.00.
		"| put | 667 µs / 2.00 ms | 667 µs / 2.00 ms | 1.00× (0.50–3.00, 3 rounds) |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}
