package measure

import (
	"sort"
	"sync"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram bounds, in microseconds.
const (
	LowestUS  = 1
	HighestUS = int64(time.Hour / time.Microsecond)
	SigFigs   = 3
)

// NewHistogram returns an empty latency histogram in microseconds.
func NewHistogram() *hdr.Histogram { return hdr.New(LowestUS, HighestUS, SigFigs) }

// US converts d to whole microseconds clamped to the histogram's range.
func US(d time.Duration) int64 {
	us := int64(d / time.Microsecond)
	return min(max(us, 0), HighestUS)
}

// Timing is when one operation was due, started and ended. In closed-loop
// mode Intended equals Start.
type Timing struct {
	Intended, Start, End time.Time
}

// Latency is the time from the intended start to the end: what a caller
// that wanted to issue the request at Intended experienced.
func (t Timing) Latency() time.Duration { return t.End.Sub(t.Intended) }

// Service is the time the request itself took.
func (t Timing) Service() time.Duration { return t.End.Sub(t.Start) }

// maxErrorSamples bounds the distinct error messages kept per class.
const maxErrorSamples = 3

// Recorder is one worker's measurements.
type Recorder struct {
	mu       sync.Mutex
	latency  *hdr.Histogram
	service  *hdr.Histogram
	interval *hdr.Histogram
	byOp     map[string]*hdr.Histogram
	ops      int64
	bytes    int64
	errs     map[string]int64
	samples  map[string][]string
	iOps     int64
	iErrs    int64
}

// NewRecorder returns an empty recorder.
func NewRecorder() *Recorder {
	return &Recorder{
		latency:  NewHistogram(),
		service:  NewHistogram(),
		interval: NewHistogram(),
		byOp:     map[string]*hdr.Histogram{},
		errs:     map[string]int64{},
		samples:  map[string][]string{},
	}
}

// Record adds a successful operation of kind op that moved bytes. If
// measured is false (warm-up) only the live interval sees it.
func (r *Recorder) Record(op string, t Timing, bytes int, measured bool) {
	lat := US(t.Latency())
	r.mu.Lock()
	defer r.mu.Unlock()
	r.iOps++
	_ = r.interval.RecordValue(lat)
	if !measured {
		return
	}
	r.ops++
	r.bytes += int64(bytes)
	_ = r.latency.RecordValue(lat)
	_ = r.service.RecordValue(US(t.Service()))
	h := r.byOp[op]
	if h == nil {
		h = NewHistogram()
		r.byOp[op] = h
	}
	_ = h.RecordValue(lat)
}

// Error counts a failed operation under class, keeping a few distinct
// messages per class as examples.
func (r *Recorder) Error(class, msg string, measured bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.iErrs++
	if !measured {
		return
	}
	r.errs[class]++
	s := r.samples[class]
	if len(s) < maxErrorSamples && !contains(s, msg) {
		r.samples[class] = append(s, msg)
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// Ops is the number of measured successful operations so far.
func (r *Recorder) Ops() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ops
}

// Interval is what happened since the previous call to Collect.
type Interval struct {
	Ops, Errors int64
	Latency     *hdr.Histogram
}

// Collect drains the live interval of every recorder into one.
func Collect(rs []*Recorder) Interval {
	out := Interval{Latency: NewHistogram()}
	for _, r := range rs {
		r.mu.Lock()
		out.Ops += r.iOps
		out.Errors += r.iErrs
		out.Latency.Merge(r.interval)
		r.interval.Reset()
		r.iOps, r.iErrs = 0, 0
		r.mu.Unlock()
	}
	return out
}

// Stats is the merged measurement of a run.
type Stats struct {
	Ops, Bytes   int64
	Errors       int64
	ErrorClasses map[string]int64
	ErrorSamples map[string][]string
	// Latency runs from each operation's intended start (corrected for
	// coordinated omission in open-loop runs); Service from its actual
	// start. They are equal in closed-loop runs.
	Latency, Service *hdr.Histogram
	ByOp             map[string]*hdr.Histogram
}

// Merge sums the recorders' measurements.
func Merge(rs []*Recorder) Stats {
	s := Stats{
		ErrorClasses: map[string]int64{},
		ErrorSamples: map[string][]string{},
		Latency:      NewHistogram(),
		Service:      NewHistogram(),
		ByOp:         map[string]*hdr.Histogram{},
	}
	for _, r := range rs {
		r.mu.Lock()
		s.Ops += r.ops
		s.Bytes += r.bytes
		s.Latency.Merge(r.latency)
		s.Service.Merge(r.service)
		for op, h := range r.byOp {
			if s.ByOp[op] == nil {
				s.ByOp[op] = NewHistogram()
			}
			s.ByOp[op].Merge(h)
		}
		for c, n := range r.errs {
			s.ErrorClasses[c] += n
			s.Errors += n
		}
		for c, msgs := range r.samples {
			for _, m := range msgs {
				if len(s.ErrorSamples[c]) < maxErrorSamples && !contains(s.ErrorSamples[c], m) {
					s.ErrorSamples[c] = append(s.ErrorSamples[c], m)
				}
			}
		}
		r.mu.Unlock()
	}
	for c := range s.ErrorSamples {
		sort.Strings(s.ErrorSamples[c])
	}
	return s
}
