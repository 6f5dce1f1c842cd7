package workload

import (
	"context"
	"sync"
	"time"

	"github.com/cairnkv/cairn/chaos/history"
	"github.com/nats-io/nats.go/jetstream"
)

// Watcher follows one key filter of a bucket for the whole run, from its
// first revision. When its watch breaks (the channel closes) or stalls
// (no event for StallAfter while writes were acknowledged beyond what it
// has seen) it starts a new watch from the last revision it delivered + 1.
type Watcher struct {
	ID         int
	Bucket     string
	Filter     string
	Conn       *Conn
	Log        *history.Log
	Progress   *Progress
	StallAfter time.Duration
	// MaxEvents bounds what one watcher records.
	MaxEvents int

	mu     sync.Mutex
	stream history.Stream
	last   uint64
}

// Run watches until ctx ends.
func (w *Watcher) Run(ctx context.Context) {
	w.mu.Lock()
	w.stream = history.Stream{Watcher: w.ID, Bucket: w.Bucket, Filter: w.Filter}
	w.mu.Unlock()
	for ctx.Err() == nil {
		w.session(ctx)
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// session runs one watch until it breaks, stalls or ctx ends.
func (w *Watcher) session(ctx context.Context) {
	kv, err := w.Conn.KV(ctx, w.Bucket)
	if err != nil {
		return
	}
	w.mu.Lock()
	from := uint64(0)
	if w.last > 0 || len(w.stream.Sessions) > 0 {
		from = w.last + 1
	}
	w.mu.Unlock()
	opts := []jetstream.WatchOpt{jetstream.IncludeHistory()}
	if from > 0 {
		opts = []jetstream.WatchOpt{jetstream.ResumeFromRevision(from)}
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The watch lives as long as the context it is made with.
	kw, err := kv.Watch(sctx, w.Filter, opts...)
	if err != nil {
		return
	}
	defer func() { _ = kw.Stop() }()
	w.mu.Lock()
	session := len(w.stream.Sessions)
	w.stream.Sessions = append(w.stream.Sessions, history.Session{From: from, Time: w.Log.Now(), Node: w.Conn.Node()})
	w.mu.Unlock()
	check := time.NewTicker(w.StallAfter / 4)
	defer check.Stop()
	lastEvent := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-kw.Updates():
			if !ok {
				return
			}
			if e == nil {
				continue // initial values done
			}
			lastEvent = time.Now()
			if !w.record(e, session) {
				return
			}
		case <-check.C:
			if time.Since(lastEvent) > w.StallAfter && w.Last() < w.Progress.MaxRev(w.Bucket) {
				return // stalled: start again from where it got to
			}
		}
	}
}

// record keeps an event; false when the watcher has recorded MaxEvents.
func (w *Watcher) record(e jetstream.KeyValueEntry, session int) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.stream.Events) >= w.MaxEvents {
		return false
	}
	w.stream.Events = append(w.stream.Events, history.Event{
		Entry:   history.Entry{Rev: e.Revision(), Key: e.Key(), Value: string(e.Value()), Op: opName(e.Operation())},
		Time:    w.Log.Now(),
		Session: session,
	})
	w.last = max(w.last, e.Revision())
	return true
}

func opName(op jetstream.KeyValueOp) string {
	switch op {
	case jetstream.KeyValueDelete:
		return history.OpDel
	case jetstream.KeyValuePurge:
		return history.OpPurge
	}
	return history.OpPut
}

// Last is the highest revision delivered so far.
func (w *Watcher) Last() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last
}

// Resumes is how many times the watch was started again.
func (w *Watcher) Resumes() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return max(0, len(w.stream.Sessions)-1)
}

// Stream is a copy of what the watcher saw.
func (w *Watcher) Stream() history.Stream {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.stream
	s.Sessions = append([]history.Session(nil), s.Sessions...)
	s.Events = append([]history.Event(nil), s.Events...)
	return s
}
