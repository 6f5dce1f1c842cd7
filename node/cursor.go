package node

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/cairnkv/cairn/storage/bucket"
)

// DeliverPolicy chooses where a cursor starts (JetStream deliver policies).
type DeliverPolicy uint8

// Deliver policies.
const (
	DeliverLastPerKey  DeliverPolicy = iota // latest revision of each key, then live
	DeliverAll                              // every stored revision, then live
	DeliverNew                              // live only
	DeliverByStartSeq                       // revisions from StartSeq on
	DeliverByStartTime                      // revisions from StartTime on
	DeliverLast                             // the newest matching revision, then live
)

// CursorConfig configures a cursor.
type CursorConfig struct {
	Policy    DeliverPolicy
	StartSeq  uint64
	StartTime time.Time
	Filters   []string
	// Stale skips the linearizable barrier before the initial snapshot.
	Stale bool
}

// Cursor reads a bucket's revisions in order: first an initial set taken
// from one consistent snapshot, then live revisions as they are applied.
// It reads from storage at its reader's pace, so a slow reader is caught
// up from disk and never dropped. Not safe for concurrent use.
type Cursor struct {
	b       *Bucket
	filters []string
	initial []uint64
	pos     int
	snap    *bucket.View
	next    uint64 // next revision to scan live
	buf     []*bucket.Msg

	delivered atomic.Uint64 // revision of the last message returned (for metrics)

	// InitialPending is how many revisions the initial set holds.
	InitialPending uint64
	// LastBefore is the revision before the first one this cursor can
	// deliver (JetStream's delivered.stream_seq at consumer creation).
	LastBefore uint64
}

// liveBatch bounds how many live revisions a cursor reads at once.
const liveBatch = 256

// OpenCursor starts a cursor.
func (b *Bucket) OpenCursor(ctx context.Context, cc CursorConfig) (*Cursor, error) {
	for _, f := range cc.Filters {
		if err := ValidateFilter(f); err != nil {
			return nil, err
		}
	}
	if err := b.barrier(ctx, cc.Stale); err != nil {
		return nil, err
	}
	v := b.state.Snapshot()
	c := &Cursor{b: b, filters: cc.Filters, snap: v, next: v.Stats.Last + 1}
	var err error
	switch cc.Policy {
	case DeliverLastPerKey:
		var latest []bucket.LatestEntry
		latest, err = v.Latest(cc.Filters)
		c.initial = make([]uint64, len(latest))
		for i, l := range latest {
			c.initial[i] = l.Seq
		}
	case DeliverAll:
		c.initial, err = v.SeqsFrom(cc.Filters, 1)
	case DeliverByStartSeq:
		c.initial, err = v.SeqsFrom(cc.Filters, max(cc.StartSeq, 1))
		if cc.StartSeq > v.Stats.Last {
			c.next = cc.StartSeq
		}
	case DeliverByStartTime:
		start := v.Stats.Last + 1
		t := cc.StartTime.UnixNano()
		err = v.Scan(1, func(m *bucket.Msg) bool {
			if m.Time >= t {
				start = m.Seq
				return false
			}
			return true
		})
		if err == nil {
			c.initial, err = v.SeqsFrom(cc.Filters, start)
		}
	case DeliverLast:
		var seqs []uint64
		seqs, err = v.SeqsFrom(cc.Filters, 1)
		if len(seqs) > 0 {
			c.initial = seqs[len(seqs)-1:]
		}
	case DeliverNew:
	}
	if err != nil {
		v.Close()
		return nil, translate(err)
	}
	c.InitialPending = uint64(len(c.initial))
	switch {
	case len(c.initial) > 0:
		c.LastBefore = c.initial[0] - 1
	case cc.Policy == DeliverByStartSeq && cc.StartSeq > 0:
		c.LastBefore = cc.StartSeq - 1
	default:
		c.LastBefore = v.Stats.Last
	}
	if len(c.initial) == 0 {
		c.closeSnap()
	}
	c.delivered.Store(c.LastBefore)
	n := b.n
	n.cursors.open.Add(1)
	n.cursorMu.Lock()
	n.cursorSet[c] = struct{}{}
	n.cursorMu.Unlock()
	return c, nil
}

// lag is how many revisions of its bucket the cursor has not yet passed
// (revisions of keys outside its filters count too). Safe to call from
// any goroutine.
func (c *Cursor) lag() uint64 {
	last, done := c.b.state.LastSeq(), c.delivered.Load()
	if last <= done {
		return 0
	}
	return last - done
}

// Next returns the next revision and how many more are known to follow
// it right now (exact during the initial set). It blocks until one is
// available, ctx ends, or the bucket is deleted.
func (c *Cursor) Next(ctx context.Context) (*bucket.Msg, uint64, error) {
	for {
		// Take the wake-up channel before looking, so that a commit
		// between TryNext finding nothing and the wait is not missed.
		changed := c.b.state.Changed()
		m, pending, ok, err := c.TryNext()
		if err != nil || ok {
			return m, pending, err
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		case <-c.b.closed:
			return nil, 0, errBucketNotFound(c.b.name)
		}
	}
}

// Wait returns a channel closed when new revisions may be available.
// Take it before TryNext reports nothing, to never miss a wake-up.
func (c *Cursor) Wait() <-chan struct{} { return c.b.state.Changed() }

// Closed returns a channel closed when the bucket is deleted.
func (c *Cursor) Closed() <-chan struct{} { return c.b.closed }

// TryNext returns the next revision if one is available now.
func (c *Cursor) TryNext() (*bucket.Msg, uint64, bool, error) {
	if c.b.isClosed() {
		c.closeSnap() // release the bucket's data even if Close never comes
		return nil, 0, false, errBucketNotFound(c.b.name)
	}
	for c.pos < len(c.initial) {
		seq := c.initial[c.pos]
		c.pos++
		m, err := c.snap.Get(seq)
		if err != nil {
			return nil, 0, false, translate(err)
		}
		pending := uint64(len(c.initial) - c.pos)
		if pending == 0 {
			c.closeSnap()
		}
		c.delivered.Store(m.Seq)
		return m, pending, true, nil
	}
	if len(c.buf) == 0 {
		if err := c.fill(); err != nil {
			return nil, 0, false, err
		}
	}
	if len(c.buf) > 0 {
		m := c.buf[0]
		c.buf[0] = nil
		c.buf = c.buf[1:]
		c.delivered.Store(m.Seq)
		return m, uint64(len(c.buf)), true, nil
	}
	return nil, 0, false, nil
}

func (c *Cursor) fill() error {
	v := c.b.state.Live()
	if c.next > v.Stats.Last {
		return nil
	}
	msgs, to, err := c.b.scans.scan(v, c.next)
	if err != nil {
		return translate(err)
	}
	for _, m := range msgs {
		c.next = m.Seq + 1
		if bucket.MatchAny(c.filters, m.Key) {
			c.buf = append(c.buf, m)
			if len(c.buf) >= liveBatch {
				break
			}
		}
	}
	if len(c.buf) < liveBatch {
		c.next = max(c.next, to+1)
	}
	if len(c.buf) == 0 && c.next > 0 {
		c.delivered.Store(c.next - 1) // passed revisions of other keys
	}
	return nil
}

func (c *Cursor) closeSnap() {
	if c.snap != nil {
		c.snap.Close()
		c.snap = nil
	}
}

// Close releases the cursor. It may be called more than once.
func (c *Cursor) Close() {
	c.closeSnap()
	n := c.b.n
	n.cursorMu.Lock()
	if _, ok := n.cursorSet[c]; ok {
		delete(n.cursorSet, c)
		n.cursors.open.Add(-1)
	}
	n.cursorMu.Unlock()
}
