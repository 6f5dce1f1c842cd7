package chaos

import (
	"context"
	"fmt"
	"time"
)

// startLive prints a summary line every SummaryEvery until ctx ends; the
// returned function waits for the printer to stop.
func (r *run) startLive(ctx context.Context) func() {
	done := make(chan struct{})
	if r.cfg.SummaryEvery <= 0 {
		close(done)
		return func() {}
	}
	go func() {
		defer close(done)
		t := time.NewTicker(r.cfg.SummaryEvery)
		defer t.Stop()
		prev, prevAt := 0, time.Now()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				prev = r.printLive(prev, now.Sub(prevAt))
				prevAt = now
			}
		}
	}()
	return func() { <-done }
}

// printLive writes one summary line; prev is the operation count at the
// previous line, d the time since.
func (r *run) printLive(prev int, d time.Duration) int {
	ok, fail, unknown := r.log.Counts()
	total := ok + fail + unknown
	rate := float64(total-prev) / d.Seconds()
	line := fmt.Sprintf("[%5s] ops %d (ok %d, fail %d, unknown %d) %.0f/s", time.Since(r.log.Start()).Round(time.Second), total, ok, fail, unknown, rate)
	if r.nem != nil {
		evs := r.nem.Events()
		rec := 0
		for _, e := range evs {
			if e.Recovered {
				rec++
			}
		}
		cur := r.nem.Current()
		if cur == "" {
			cur = "none"
		}
		line += fmt.Sprintf(" | faults %d, recovered %d, now: %s", len(evs), rec, cur)
	}
	if len(r.watchers) > 0 {
		resumes := 0
		for _, w := range r.watchers {
			resumes += w.Resumes()
		}
		line += fmt.Sprintf(" | watch resumes %d", resumes)
	}
	if r.local != nil {
		if n := len(r.local.Exits()); n > 0 {
			line += fmt.Sprintf(" | node exits %d", n)
		}
	}
	fmt.Fprintln(r.cfg.Out, line)
	return total
}
