package history

import (
	"sync"
	"time"
)

// Log collects operations from concurrent clients. Times come from one
// monotonic clock started when the Log is made.
type Log struct {
	start time.Time
	mu    sync.Mutex
	ops   []Op
	count [3]int // by Result
}

// NewLog starts the run's clock.
func NewLog() *Log { return &Log{start: time.Now()} }

// Now is the time on the run's clock, in nanoseconds.
func (l *Log) Now() int64 { return int64(time.Since(l.start)) }

// Start is the wall time the clock started at.
func (l *Log) Start() time.Time { return l.start }

// Add records a finished operation.
func (l *Log) Add(op Op) {
	l.mu.Lock()
	l.ops = append(l.ops, op)
	if int(op.Result) < len(l.count) {
		l.count[op.Result]++
	}
	l.mu.Unlock()
}

// Ops is a copy of every operation recorded so far.
func (l *Log) Ops() []Op {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Op(nil), l.ops...)
}

// Counts are the operations recorded so far by result.
func (l *Log) Counts() (ok, fail, unknown int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.count[Ok], l.count[Fail], l.count[Unknown]
}
