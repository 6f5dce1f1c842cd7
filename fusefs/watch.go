package fusefs

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/nats-io/nats.go/jetstream"
)

// sync loads every key of the bucket into the index through a watch of
// all keys, and returns the watch, which then delivers every later change.
// Keys the index holds that the bucket no longer has (deleted while the
// watch was down) are dropped.
func (fsys *filesys) sync(ctx context.Context) (jetstream.KeyWatcher, error) {
	// Keys not in the snapshot are gone only if they are older than it.
	st, err := fsys.kv.Status(ctx)
	if err != nil {
		return nil, err
	}
	var last uint64
	if bs, ok := st.(*jetstream.KeyValueBucketStatus); ok && bs.StreamInfo() != nil {
		last = bs.StreamInfo().State.LastSeq
	}
	w, err := fsys.kv.WatchAll(fsys.ctx)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return nil, fmt.Errorf("watch ended while loading keys")
			}
			if e == nil {
				fsys.gate.Lock()
				for key, rev := range fsys.ix.revs() {
					if !seen[key] && rev <= last && fsys.ix.applyDelete(key, rev+1) {
						fsys.notify.add(key)
					}
				}
				fsys.gate.Unlock()
				return w, nil
			}
			seen[e.Key()] = true
			fsys.apply(e)
		case <-ctx.Done():
			_ = w.Stop()
			return nil, ctx.Err()
		}
	}
}

// apply brings one watch entry into the index and queues the kernel
// notices for what changed.
func (fsys *filesys) apply(e jetstream.KeyValueEntry) {
	key := e.Key()
	if _, err := keyPath(key); err != nil {
		fsys.unmappable("key", key)
		return
	}
	var changed bool
	fsys.gate.Lock()
	defer fsys.gate.Unlock()
	switch e.Operation() {
	case jetstream.KeyValuePut:
		changed = fsys.ix.applyPut(key, e.Revision(), e.Value(), e.Created())
	default:
		changed = fsys.ix.applyDelete(key, e.Revision())
	}
	if changed {
		fsys.notify.add(key)
	}
}

// watchLoop applies the watch's entries until the mount ends, and starts
// a new watch (with a full resync) whenever one ends.
func (fsys *filesys) watchLoop(w jetstream.KeyWatcher) {
	const first = 100 * time.Millisecond
	backoff := first
	for {
		if w != nil {
			asked := fsys.follow(w)
			_ = w.Stop()
			w = nil
			if asked {
				backoff = 0
			}
		}
		if fsys.ctx.Err() != nil {
			return
		}
		select {
		case <-fsys.ctx.Done():
			return
		case <-fsys.resync:
		case <-time.After(backoff):
		}
		backoff = min(max(2*backoff, first), 5*time.Second)
		ctx, cancel := fsys.request()
		nw, err := fsys.sync(ctx)
		cancel()
		switch {
		case err == nil:
			fsys.lg.Info("watch restarted; the mount is current again")
			w, backoff = nw, first
		case isBucketGone(err):
			fsys.bucketGone()
		case fsys.ctx.Err() == nil:
			fsys.lg.Debug("restarting the watch failed; retrying", "err", err)
		}
	}
}

// follow applies entries until the watch's channel closes (the connection
// closed or the consumer could not be recreated), a resync is asked for
// (it reports true then) or the mount ends.
func (fsys *filesys) follow(w jetstream.KeyWatcher) bool {
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				if fsys.ctx.Err() == nil {
					fsys.lg.Warn("the bucket's watch ended; restarting it")
				}
				return false
			}
			if e != nil {
				fsys.apply(e)
			}
		case <-fsys.resync:
			return true
		case <-fsys.ctx.Done():
			return false
		}
	}
}

// notifier collects keys whose kernel caches must go and hands them to
// one goroutine. Notices are sent from there, never from a FUSE request
// handler or under a lock a handler takes: the kernel may wait on a
// request in progress before it completes a notice.
type notifier struct {
	mu      sync.Mutex
	pending map[string]struct{}
	wake    chan struct{}
}

func newNotifier() *notifier {
	return &notifier{pending: map[string]struct{}{}, wake: make(chan struct{}, 1)}
}

func (n *notifier) add(key string) {
	n.mu.Lock()
	n.pending[key] = struct{}{}
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// reset drops the keys queued so far.
func (n *notifier) reset() {
	n.mu.Lock()
	n.pending = map[string]struct{}{}
	n.mu.Unlock()
}

func (n *notifier) run(ctx context.Context, invalidate func(string)) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.wake:
		}
		n.mu.Lock()
		keys := n.pending
		n.pending = map[string]struct{}{}
		n.mu.Unlock()
		for key := range keys {
			if ctx.Err() != nil {
				return
			}
			invalidate(key)
		}
	}
}

// invalidate tells the kernel to forget what it caches about key's path:
// walking down from the root through the inodes the kernel knows, the
// first name whose kind changed (or that it does not know) is
// invalidated; if the kernel knows the file itself, its content and
// attributes are. Errors (the kernel forgot the inode) are expected and
// ignored.
func (fsys *filesys) invalidate(key string) {
	if fsys.root == nil {
		return
	}
	parent := fsys.root.EmbeddedInode()
	prefix := ""
	toks := strings.Split(key, ".")
	for i, tok := range toks {
		name, err := tokenName(tok)
		if err != nil {
			return
		}
		prefix = joinKey(prefix, tok)
		k := fsys.ix.kindOf(prefix)
		child := parent.GetChild(name)
		if child == nil {
			parent.NotifyEntry(name)
			return
		}
		if k == kindNone || (k == kindDir) != child.IsDir() {
			if k == kindNone {
				parent.NotifyDelete(name, child)
			} else {
				parent.NotifyEntry(name)
			}
			return
		}
		if i < len(toks)-1 {
			parent = child
			continue
		}
		if k == kindFile {
			fsys.contentChanged(child)
			return
		}
		// A directory: the key's own value is its .cairn-value.
		vc := child.GetChild(valueName)
		_, hasValue := fsys.ix.get(key)
		switch {
		case vc == nil:
			child.NotifyEntry(valueName)
		case !hasValue:
			child.NotifyDelete(valueName, vc)
		default:
			fsys.contentChanged(vc)
		}
	}
}

func (fsys *filesys) contentChanged(in *fs.Inode) {
	if f, ok := in.Operations().(*fileNode); ok {
		f.remoteChanged()
	}
	in.NotifyContent(0, 0)
}
