package node

import "context"

// WatchOptions are the nats.go KV watch options.
type WatchOptions struct {
	IncludeHistory bool   // deliver every stored revision, not just the latest
	UpdatesOnly    bool   // deliver only changes made after the watch starts
	IgnoreDeletes  bool   // skip delete and purge revisions
	MetaOnly       bool   // leave values out
	ResumeFrom     uint64 // start at this revision (overrides the others)
	Stale          bool   // skip the linearizable barrier at start
}

// Watcher delivers a bucket's changes for some filters: the current values
// (or full history), then a nil entry meaning "initial values done", then
// live changes in revision order.
type Watcher struct {
	cur        *Cursor
	opts       WatchOptions
	markerDue  bool
	markerSent bool
}

// Watch starts a watcher. Filters use '*' and '>'; none means all keys.
func (b *Bucket) Watch(ctx context.Context, filters []string, o WatchOptions) (*Watcher, error) {
	cc := CursorConfig{Policy: DeliverLastPerKey, Filters: filters, Stale: o.Stale}
	switch {
	case o.ResumeFrom > 0:
		cc.Policy, cc.StartSeq = DeliverByStartSeq, o.ResumeFrom
	case o.UpdatesOnly:
		cc.Policy = DeliverNew
	case o.IncludeHistory:
		cc.Policy = DeliverAll
	}
	cur, err := b.OpenCursor(ctx, cc)
	if err != nil {
		return nil, err
	}
	w := &Watcher{cur: cur, opts: o}
	// nats.go sends no "initial values done" marker for updates-only
	// watches; cairn's API follows it.
	w.markerDue = !o.UpdatesOnly || o.ResumeFrom > 0
	return w, nil
}

// Next returns the next entry, or nil for the "initial values done"
// marker (sent once).
func (w *Watcher) Next(ctx context.Context) (*Entry, error) {
	for {
		if w.markerDue && !w.markerSent && w.cur.InitialPending == 0 {
			w.markerSent = true
			return nil, nil
		}
		m, pending, err := w.cur.Next(ctx)
		if err != nil {
			return nil, err
		}
		initial := w.markerDue && !w.markerSent
		if initial && pending == 0 {
			w.cur.InitialPending = 0 // the next call sends the marker
		}
		if w.opts.IgnoreDeletes && m.Op.IsRemoval() {
			continue
		}
		e := entryOf(w.cur.b.name, m)
		if initial {
			e.Delta = pending
		}
		if w.opts.MetaOnly {
			e.Value = nil
		}
		return &e, nil
	}
}

// Close stops the watcher.
func (w *Watcher) Close() { w.cur.Close() }
