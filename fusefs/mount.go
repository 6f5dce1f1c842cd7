package fusefs

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// FSType is the filesystem type of a mount as /proc/self/mountinfo shows
// it ("fuse." + Name).
const FSType = "fuse.cairn"

// filesys is the state every node of one mount shares.
type filesys struct {
	kv       Bucket
	bucket   string
	ix       *index
	opts     Options
	lg       *slog.Logger
	root     *dirNode
	maxValue int64
	uid, gid uint32
	started  time.Time

	// gate keeps the watch from applying an entry while a write of this
	// mount and its bookkeeping are in flight: the watch's echo of the
	// write can arrive before the write's answer, and must find the index
	// already updated (and so change nothing). Writes take it shared, one
	// level deep only; the watch takes it exclusively per entry.
	gate sync.RWMutex

	ctx     context.Context // ends at unmount; requests derive from it
	notify  *notifier
	gone    atomic.Bool   // the bucket was deleted
	offline atomic.Bool   // an outage was logged
	resync  chan struct{} // asks the watch loop for a new watch
	warned  sync.Map      // keys already logged as unmappable
}

// Mount is one bucket mounted on a directory.
type Mount struct {
	dir    string
	fsys   *filesys
	server *fuse.Server
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
	closed chan struct{}

	// endMu guards onEnd and ended: a hook may be added while the mount
	// is being unmounted from outside (fusermount -u), which ends it on
	// another goroutine.
	endMu sync.Mutex
	onEnd []func()
	ended bool
}

// atEnd runs f when the mount ends, or at once if it has ended.
func (m *Mount) atEnd(f func()) {
	m.endMu.Lock()
	if !m.ended {
		m.onEnd = append(m.onEnd, f)
		m.endMu.Unlock()
		return
	}
	m.endMu.Unlock()
	f()
}

// MountBucket loads the keys of kv, mounts them on dir and keeps the mount
// current from the bucket's watch until Unmount. bucket is the bucket's
// name, for messages.
func MountBucket(ctx context.Context, dir, bucket string, kv Bucket, opts Options) (*Mount, error) {
	opts = opts.withDefaults()
	fsys := &filesys{
		kv: kv, bucket: bucket, opts: opts, lg: opts.Logger.With("bucket", bucket, "dir", dir),
		ix:      newIndex(opts.CacheBytes, 1<<20),
		uid:     uint32(os.Getuid()),
		gid:     uint32(os.Getgid()),
		started: time.Now(),
		notify:  newNotifier(),
		resync:  make(chan struct{}, 1),
	}
	life, cancel := context.WithCancel(context.WithoutCancel(ctx))
	fsys.ctx = life
	m := &Mount{dir: dir, fsys: fsys, cancel: cancel, closed: make(chan struct{})}

	if err := fsys.limits(ctx); err != nil {
		cancel()
		return nil, err
	}
	syncCtx, syncCancel := context.WithTimeout(ctx, opts.SyncTimeout)
	w, err := fsys.sync(syncCtx)
	syncCancel()
	if err != nil {
		cancel()
		return nil, fmt.Errorf("loading keys of %s: %w", bucket, err)
	}

	fsys.notify.reset() // the kernel knows nothing yet
	fsys.root = &dirNode{fsys: fsys}
	server, err := fs.Mount(dir, fsys.root, fsys.fuseOptions())
	if err != nil {
		_ = w.Stop()
		cancel()
		return nil, fmt.Errorf("mounting %s on %s: %w", bucket, dir, err)
	}
	m.server = server
	m.wg.Add(2)
	go func() { defer m.wg.Done(); fsys.watchLoop(w) }()
	go func() { defer m.wg.Done(); fsys.notify.run(life, fsys.invalidate) }()
	go func() {
		// Unmounted by anyone (Unmount, fusermount -u, umount): stop.
		server.Wait()
		m.stop()
	}()
	keys, _ := fsys.ix.stats()
	fsys.lg.Info("mounted", "keys", keys, "read-only", opts.ReadOnly, "max-value-size", fsys.maxValue)
	return m, nil
}

// limits asks the bucket for its largest value.
func (fsys *filesys) limits(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, fsys.opts.Timeout)
	defer cancel()
	st, err := fsys.kv.Status(ctx)
	if err != nil {
		if isBucketGone(err) {
			return fmt.Errorf("bucket %s not found: %w", fsys.bucket, err)
		}
		return fmt.Errorf("bucket %s: %w", fsys.bucket, err)
	}
	max := fsys.opts.MaxValueSize
	if max <= 0 {
		max = 1 << 62
		if bs, ok := st.(*jetstream.KeyValueBucketStatus); ok && bs.StreamInfo() != nil {
			if m := int64(bs.StreamInfo().Config.MaxMsgSize); m > 0 {
				max = m
			}
		}
		if p := fsys.opts.MaxPayload; p > 0 && p-payloadHeadroom < max {
			// Update and Create send a revision header with the value.
			max = p - payloadHeadroom
		}
	}
	fsys.maxValue = max
	return nil
}

// payloadHeadroom is what a revision-checked write adds to a message
// beside the value (its headers), counted against the server's limit.
const payloadHeadroom = 128

func (fsys *filesys) fuseOptions() *fs.Options {
	t := fsys.opts.CacheTimeout
	opts := &fs.Options{
		EntryTimeout:    &t,
		AttrTimeout:     &t,
		NegativeTimeout: &t,
		UID:             fsys.uid,
		GID:             fsys.gid,
		MountOptions: fuse.MountOptions{
			FsName:     "cairn:" + fsys.bucket,
			Name:       "cairn",
			AllowOther: fsys.opts.AllowOther,
			// O_TRUNC arrives with open, so a truncating open and its
			// writes make one revision, not two.
			ExtraCapabilities: fuse.CAP_ATOMIC_O_TRUNC,
			MaxWrite:          1 << 20,
			Debug:             fsys.opts.Debug,
			Logger:            log.New(slogWriter{fsys.lg}, "", 0),
		},
	}
	if fsys.opts.ReadOnly {
		opts.MountOptions.Options = append(opts.MountOptions.Options, "ro")
	}
	return opts
}

// Resync replaces the bucket's watch with a new one and reloads every key
// from it; call it after the connection to the server came back, so
// changes made meanwhile show at once rather than after the old watch
// times out.
func (m *Mount) Resync() {
	select {
	case m.fsys.resync <- struct{}{}:
	default:
	}
}

// Dir is the mount point.
func (m *Mount) Dir() string { return m.dir }

// Done is closed once the filesystem is unmounted, by Unmount or from
// outside (fusermount -u).
func (m *Mount) Done() <-chan struct{} { return m.closed }

// Unmount unmounts the filesystem and stops the mount's work. It fails
// (EBUSY) while a process uses the mount; see UnmountLazy.
func (m *Mount) Unmount() error {
	select {
	case <-m.closed:
		return nil
	default:
	}
	if err := m.server.Unmount(); err != nil {
		return fmt.Errorf("unmounting %s: %w", m.dir, err)
	}
	<-m.closed
	return nil
}

// UnmountLazy detaches the mount even while it is in use; processes that
// still hold files in it see errors from then on.
func (m *Mount) UnmountLazy() error {
	select {
	case <-m.closed:
		return nil
	default:
	}
	if err := LazyUnmount(m.dir); err != nil {
		return err
	}
	m.stop()
	return nil
}

// stop ends the watch and the notifier and runs the end hooks, once.
func (m *Mount) stop() {
	m.once.Do(func() {
		m.cancel()
		m.wg.Wait()
		m.endMu.Lock()
		hooks := m.onEnd
		m.onEnd, m.ended = nil, true
		m.endMu.Unlock()
		for _, f := range hooks {
			f()
		}
		m.fsys.lg.Info("unmounted")
		close(m.closed)
	})
}

// LazyUnmount detaches the mount at dir (umount -l).
func LazyUnmount(dir string) error {
	if err := syscall.Unmount(dir, syscall.MNT_DETACH); err == nil {
		return nil
	}
	return fusermount(dir, "-uz")
}

// slogWriter feeds go-fuse's log lines into slog.
type slogWriter struct{ lg *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	msg := string(p)
	for len(msg) > 0 && msg[len(msg)-1] == '\n' {
		msg = msg[:len(msg)-1]
	}
	w.lg.Debug("fuse", "msg", msg)
	return len(p), nil
}

// request returns a context for one request to the server.
func (fsys *filesys) request() (context.Context, context.CancelFunc) {
	return context.WithTimeout(fsys.ctx, fsys.opts.Timeout)
}

// ready says whether an operation that needs the server may go ahead:
// EIO while the bucket is gone or the connection is down.
func (fsys *filesys) ready() syscall.Errno {
	if fsys.gone.Load() {
		return syscall.EIO
	}
	if !fsys.opts.Online() {
		if !fsys.offline.Swap(true) {
			fsys.lg.Warn("server unreachable: operations that need it fail with EIO")
		}
		return syscall.EIO
	}
	fsys.offline.Store(false)
	return 0
}

// fail logs a failed request and returns its errno; a deleted bucket
// marks the mount gone.
func (fsys *filesys) fail(op, key string, err error) syscall.Errno {
	e := errno(err)
	if errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) {
		// Nothing stores the bucket's subjects any more: was it deleted?
		ctx, cancel := fsys.request()
		_, serr := fsys.kv.Status(ctx)
		cancel()
		if serr != nil && isBucketGone(serr) {
			err = serr
		}
	}
	if isBucketGone(err) {
		fsys.bucketGone()
		return syscall.EIO
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		fsys.lg.Warn("no answer from the server", "op", op, "key", key, "timeout", fsys.opts.Timeout)
	case e == syscall.ENOENT:
	default:
		fsys.lg.Warn("request failed", "op", op, "key", key, "errno", e.Error(), "err", err)
	}
	return e
}

func (fsys *filesys) bucketGone() {
	if !fsys.gone.Swap(true) {
		fsys.lg.Error("the bucket was deleted: every operation fails with EIO; unmount with `cairn unmount`")
	}
}

// unmappable logs, once per name, a name or key the mapping cannot carry.
func (fsys *filesys) unmappable(what, s string) {
	if _, seen := fsys.warned.LoadOrStore(what+"\x00"+s, true); !seen {
		fsys.lg.Warn("unmappable "+what+" (see docs/fuse.md, Names)", what, s)
	}
}
