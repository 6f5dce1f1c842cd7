package compare

import (
	"testing"
	"time"

	"github.com/cairnkv/cairn/bench/workload"
)

// The meter counts the CPU between the first and the last report of the
// run phase over the operations reported in between; other phases, and
// runs with fewer than two run reports, give nothing.
func TestCPUMeter(t *testing.T) {
	type report struct {
		phase string
		rate  float64
		cpu   time.Duration // the servers' total CPU when it comes
	}
	tests := []struct {
		name    string
		reports []report
		want    float64
		ok      bool
	}{
		{"steady", []report{
			{"warmup", 500, 1 * time.Second},
			{"run", 1000, 2 * time.Second},         // first: the CPU baseline
			{"run", 1000, 2050 * time.Millisecond}, // 1,000 ops for 50 ms
			{"run", 3000, 2200 * time.Millisecond}, // 3,000 ops for 150 ms
			{"drain", 0, 5 * time.Second},
		}, 50, true},
		{"one run report", []report{{"warmup", 500, time.Second}, {"run", 1000, 2 * time.Second}}, 0, false},
		{"no operations", []report{{"run", 0, time.Second}, {"run", 0, 2 * time.Second}}, 0, false},
		{"no run phase", []report{{"load", 100, time.Second}, {"cleanup", 0, 2 * time.Second}}, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var cpu time.Duration
			clock := time.Unix(0, 0)
			m := &cpuMeter{cpuTime: func() time.Duration { return cpu }, now: func() time.Time { return clock }}
			for _, r := range tc.reports {
				clock = clock.Add(time.Second) // reports a second apart
				cpu = r.cpu
				m.observe(workload.Progress{Phase: r.phase, OpsPerSec: r.rate})
			}
			got, ok := m.perOp()
			if ok != tc.ok || got != tc.want {
				t.Fatalf("perOp = %v, %v; want %v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}
