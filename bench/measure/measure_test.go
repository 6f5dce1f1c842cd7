package measure

import (
	"fmt"
	"testing"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// simulateOpenLoop runs one open-loop client against a fake server on a
// simulated clock: op i is due every interval and takes service(i).
func simulateOpenLoop(rec *Recorder, ops int, interval time.Duration, service func(int) time.Duration) time.Time {
	p := NewPacer(t0, interval, 0)
	free := t0 // when the client is free to send again
	for i := 0; i < ops; i++ {
		due := p.Next(free)
		start := due
		if free.After(start) {
			start = free
		}
		end := start.Add(service(i))
		rec.Record("op", Timing{Intended: due, Start: start, End: end}, 0, true)
		free = end
	}
	return free
}

// A server that answers instantly except for one 1-second stall, probed at
// one request per 10 ms for 2 seconds of intended schedule.
func stall(i int) time.Duration {
	if i == 50 {
		return time.Second
	}
	return 0
}

// Open-loop latency measured from the intended start is what HdrHistogram's
// RecordCorrectedValue back-fills for a closed-loop client that paces at
// the same interval: the stall is counted once per request it delayed
// (1000 ms, 990 ms, ... 10 ms) rather than once.
func TestOpenLoopEqualsHDRCorrection(t *testing.T) {
	const interval = 10 * time.Millisecond
	const ops = 200
	rec := NewRecorder()
	simulateOpenLoop(rec, ops, interval, stall)
	got := Merge([]*Recorder{rec})

	// The closed-loop reference: over the same 2 s it completes the
	// requests not swallowed by the stall, and RecordCorrectedValue
	// restores the swallowed ones.
	ref := NewHistogram()
	swallowed := int(time.Second/interval) - 1
	for i := 0; i < ops-swallowed; i++ {
		if err := ref.RecordCorrectedValue(US(stall(i)), US(interval)); err != nil {
			t.Fatal(err)
		}
	}
	if !got.Latency.Equals(ref) {
		t.Fatalf("open loop: count %d p50 %d p90 %d max %d\nHDR corrected: count %d p50 %d p90 %d max %d",
			got.Latency.TotalCount(), got.Latency.ValueAtQuantile(50), got.Latency.ValueAtQuantile(90), got.Latency.Max(),
			ref.TotalCount(), ref.ValueAtQuantile(50), ref.ValueAtQuantile(90), ref.Max())
	}
	// Service time only sees the stall once: what a closed-loop tool
	// would have reported.
	if n := countAbove(got.Service, 0); n != 1 {
		t.Fatalf("service time: %d slow requests, want 1", n)
	}
	if n := countAbove(got.Latency, US(interval)-1); n != 100 {
		t.Fatalf("corrected latency: %d requests at or above 10 ms, want 100", n)
	}
	if p90 := got.Latency.ValueAtQuantile(90); p90 < 190_000 {
		t.Fatalf("corrected p90 %d µs: the stall should dominate the tail", p90)
	}
}

// countAbove counts recorded values above v.
func countAbove(h *hdr.Histogram, v int64) int64 {
	var n int64
	for _, b := range h.Distribution() {
		if b.From > v {
			n += b.Count
		}
	}
	return n
}

func TestClosedLoopPacerIsDueNow(t *testing.T) {
	p := NewPacer(t0, 0, 0)
	now := t0.Add(time.Minute)
	if p.Open() || !p.Next(now).Equal(now) {
		t.Fatal("a closed-loop pacer must make every operation due when asked")
	}
}

func TestClientPacingSpreadsClients(t *testing.T) {
	// 1000 ops/s over 4 clients: each every 4 ms, phases 0, 1, 2, 3 ms.
	var dues []time.Duration
	for c := 0; c < 4; c++ {
		iv, ph := ClientPacing(1000, 4, c)
		if iv != 4*time.Millisecond {
			t.Fatalf("interval %v", iv)
		}
		p := NewPacer(t0, iv, ph)
		for i := 0; i < 3; i++ {
			dues = append(dues, p.Next(t0).Sub(t0))
		}
	}
	want := "[0s 4ms 8ms 1ms 5ms 9ms 2ms 6ms 10ms 3ms 7ms 11ms]"
	if got := fmt.Sprint(dues); got != want {
		t.Fatalf("due times %s, want %s", got, want)
	}
	if iv, ph := ClientPacing(0, 4, 1); iv != 0 || ph != 0 {
		t.Fatal("rate 0 must be closed loop")
	}
}

func TestWarmupOnlyReachesTheLiveInterval(t *testing.T) {
	r := NewRecorder()
	tm := Timing{Intended: t0, Start: t0, End: t0.Add(time.Millisecond)}
	r.Record("read", tm, 10, false)
	r.Error("timeout", "i/o timeout", false)
	r.Record("read", tm, 10, true)
	r.Record("update", Timing{Intended: t0, Start: t0.Add(time.Millisecond), End: t0.Add(3 * time.Millisecond)}, 20, true)
	r.Error("timeout", "i/o timeout", true)
	r.Error("timeout", "i/o timeout", true)
	r.Error("other", "boom", true)

	iv := Collect([]*Recorder{r})
	if iv.Ops != 3 || iv.Errors != 4 || iv.Latency.TotalCount() != 3 {
		t.Fatalf("interval: %+v count %d", iv, iv.Latency.TotalCount())
	}
	if again := Collect([]*Recorder{r}); again.Ops != 0 || again.Latency.TotalCount() != 0 {
		t.Fatal("Collect did not reset the interval")
	}

	s := Merge([]*Recorder{r, NewRecorder()})
	if s.Ops != 2 || s.Bytes != 30 || s.Errors != 3 {
		t.Fatalf("stats: ops %d bytes %d errors %d", s.Ops, s.Bytes, s.Errors)
	}
	if s.ErrorClasses["timeout"] != 2 || s.ErrorClasses["other"] != 1 {
		t.Fatalf("classes %v", s.ErrorClasses)
	}
	if len(s.ErrorSamples["timeout"]) != 1 {
		t.Fatalf("samples %v", s.ErrorSamples)
	}
	if s.ByOp["read"].TotalCount() != 1 || s.ByOp["update"].TotalCount() != 1 {
		t.Fatal("per-operation histograms")
	}
	// The update was due 2 ms before it ended but took 2 ms of service
	// only after waiting 1 ms: latency 3 ms, service 2 ms.
	if got := s.ByOp["update"].Max(); !s.ByOp["update"].ValuesAreEquivalent(got, 3000) {
		t.Fatalf("update latency %d µs, want 3000", got)
	}
	if got := s.Service.Max(); !s.Service.ValuesAreEquivalent(got, 2000) {
		t.Fatalf("service max %d µs, want 2000", got)
	}
}

func TestUSClamps(t *testing.T) {
	if US(-time.Second) != 0 || US(2*time.Hour) != HighestUS || US(1500*time.Nanosecond) != 1 {
		t.Fatal("US does not clamp")
	}
}
