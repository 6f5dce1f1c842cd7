package compare

import (
	"time"

	"github.com/cairnkv/cairn/bench/workload"
)

// cpuMeter measures the CPU a cluster's server processes use per
// operation in the measured phase of a run, from the run's progress
// reports: the CPU used between the first and the last report of the
// "run" phase, over the operations the reports count in between (each
// gives the rate over the interval that ends with it). The clients run
// in this process and are not counted.
type cpuMeter struct {
	cpuTime func() time.Duration
	now     func() time.Time // time.Now unless a test sets it

	reports  int
	firstCPU time.Duration
	lastCPU  time.Duration
	last     time.Time
	ops      float64
}

// observe takes one progress report. Reports of the run phase come from
// one goroutine, the runner's measuring loop.
func (m *cpuMeter) observe(p workload.Progress) {
	if p.Phase != "run" {
		return
	}
	clock := m.now
	if clock == nil {
		clock = time.Now
	}
	now, cpu := clock(), m.cpuTime()
	if m.reports > 0 {
		m.ops += p.OpsPerSec * now.Sub(m.last).Seconds()
	} else {
		m.firstCPU = cpu
	}
	m.reports++
	m.last, m.lastCPU = now, cpu
}

// perOp is the CPU per operation in microseconds, if at least two
// reports with operations between them came.
func (m *cpuMeter) perOp() (float64, bool) {
	if m.reports < 2 || m.ops < 1 {
		return 0, false
	}
	return float64((m.lastCPU - m.firstCPU).Microseconds()) / m.ops, true
}
