package fusefs

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/nats-io/nats.go/jetstream"
)

// fileNode is the file of one key. While the file is open, every handle
// of this mount shares one buffer holding its content (as a page cache
// would); writes change the buffer, and a flush, fsync or close writes the
// whole buffer as one new revision of the key.
type fileNode struct {
	fs.Inode
	fsys *filesys

	mu   sync.Mutex
	k    string // the key; changes on rename
	gone bool   // unlinked or overwritten here: nothing more is saved
	last entry  // the attributes last seen, for fstat after unlink

	opens, writers int

	loaded  bool
	buf     []byte
	baseRev uint64 // the revision buf started from (0: none)
	dirty   bool   // buf has changes not written yet
	// fresh means buf does not depend on baseRev's value (the file was
	// created or truncated to zero), so it is written unconditionally.
	fresh bool
	// appendOnly means every write since baseRev came through an
	// O_APPEND handle, so buf is baseRev's value plus bytes appended
	// after baseLen: if another writer changed the key meanwhile, those
	// bytes are re-applied on top of the new value instead of failing
	// (two processes appending to one log on two mounts lose nothing).
	appendOnly bool
	baseLen    int
	// cachedRev is the revision whose content the kernel may still hold
	// in its page cache; an open of the same revision keeps that cache.
	cachedRev uint64
	mtime     time.Time // time of the last local change while dirty
}

var (
	_ fs.NodeOpener        = (*fileNode)(nil)
	_ fs.NodeGetattrer     = (*fileNode)(nil)
	_ fs.NodeSetattrer     = (*fileNode)(nil)
	_ fs.NodeAllocater     = (*fileNode)(nil)
	_ fs.NodeGetxattrer    = (*fileNode)(nil)
	_ fs.NodeListxattrer   = (*fileNode)(nil)
	_ fs.NodeSetxattrer    = (*fileNode)(nil)
	_ fs.NodeRemovexattrer = (*fileNode)(nil)
)

func nowTime() time.Time { return time.Now() }

func (f *fileNode) key() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.k
}

// movedTo follows a rename: the file is now key, whose revision (written
// by the rename, from this file's saved content) is the new base.
func (f *fileNode) movedTo(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.k = key
	if e, ok := f.fsys.ix.get(key); ok && !e.pending {
		f.last = e
		if f.loaded && !f.dirty {
			f.baseRev, f.cachedRev = e.rev, e.rev
		}
	}
}

// orphan marks the file unlinked (or replaced by a rename): handles still
// open may read and write it, but nothing more reaches the bucket. e is
// the key's entry from before it went, what fstat shows from then on.
func (f *fileNode) orphan(e entry, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ok && !f.gone {
		f.last = e
	}
	f.gone = true
}

// remoteChanged drops a buffer without local changes after another
// client wrote the key, so the next read fetches the new value.
func (f *fileNode) remoteChanged() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.dirty && !f.gone {
		f.loaded, f.buf = false, nil
	}
}

// fillAttr fills a's fields; e is the index entry if the caller has it.
func (f *fileNode) fillAttr(a *fuse.Attr, e *entry) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fillAttrLocked(a, e)
}

func (f *fileNode) fillAttrLocked(a *fuse.Attr, e *entry) {
	if !f.gone {
		if e == nil {
			if ent, ok := f.fsys.ix.get(f.k); ok {
				e = &ent
			}
		}
		if e != nil {
			f.last = *e
		}
	}
	size := f.last.size
	mtime := f.last.mtime
	if f.loaded {
		size = int64(len(f.buf))
	}
	if f.dirty {
		mtime = f.mtime
	}
	a.Mode = syscall.S_IFREG | 0o644
	if f.fsys.opts.ReadOnly {
		a.Mode = syscall.S_IFREG | 0o444
	}
	a.Nlink = 1
	if f.gone {
		a.Nlink = 0
	}
	a.Size = uint64(size)
	a.Blocks = (uint64(size) + 511) / 512
	a.Blksize = 4096
	a.Uid, a.Gid = f.fsys.uid, f.fsys.gid
	a.SetTimes(&mtime, &mtime, &mtime)
}

func (f *fileNode) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	f.fillAttr(&out.Attr, nil)
	return 0
}

// handle is one open file description.
type handle struct {
	f        *fileNode
	writable bool
	// appends: opened with O_APPEND. Every write goes to the end of the
	// buffer, whatever offset the kernel computed from the size it
	// caches (which lags behind other writers).
	appends bool
}

var (
	_ fs.FileReader   = (*handle)(nil)
	_ fs.FileWriter   = (*handle)(nil)
	_ fs.FileFlusher  = (*handle)(nil)
	_ fs.FileFsyncer  = (*handle)(nil)
	_ fs.FileReleaser = (*handle)(nil)
)

func (f *fileNode) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	writable := flags&syscall.O_ACCMODE != syscall.O_RDONLY
	if writable && f.fsys.opts.ReadOnly {
		return nil, 0, syscall.EROFS
	}
	// Even a value held here may be stale while the server is away.
	if errno := f.fsys.ready(); errno != 0 {
		return nil, 0, errno
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if writable && flags&syscall.O_TRUNC != 0 {
		if !f.loaded {
			e, _ := f.fsys.ix.get(f.k)
			f.baseRev = e.rev
		}
		f.truncateLocked(0)
	} else if !f.loaded {
		if errno := f.loadLocked(); errno != 0 {
			return nil, 0, errno
		}
	}
	h := f.openLocked(writable)
	h.appends = flags&syscall.O_APPEND != 0
	return h, f.keepCacheLocked(), 0
}

// openNew opens a file Create just made: empty, at revision rev (0 if it
// is not written yet).
func (f *fileNode) openNew(flags uint32, rev uint64) fs.FileHandle {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.loaded, f.buf, f.baseRev, f.baseLen = true, []byte{}, rev, 0
	f.fresh, f.appendOnly = true, true
	f.dirty = rev == 0 // a pending file is written on close even if empty
	f.mtime = nowTime()
	f.cachedRev = rev
	h := f.openLocked(flags&syscall.O_ACCMODE != syscall.O_RDONLY)
	h.appends = flags&syscall.O_APPEND != 0
	return h
}

func (f *fileNode) openLocked(writable bool) *handle {
	f.opens++
	if writable {
		f.writers++
	}
	return &handle{f: f, writable: writable}
}

// keepCacheLocked tells the kernel to keep its cached pages when they are
// of the revision being opened.
func (f *fileNode) keepCacheLocked() uint32 {
	var flags uint32
	if f.baseRev != 0 && f.cachedRev == f.baseRev && !f.dirty {
		flags = fuse.FOPEN_KEEP_CACHE
	}
	f.cachedRev = f.baseRev
	return flags
}

// loadLocked fills the buffer with the key's latest value: from the index
// when it holds the value, else from the server.
func (f *fileNode) loadLocked() syscall.Errno {
	if f.gone {
		f.loaded, f.buf = true, []byte{}
		return 0
	}
	if e, ok := f.fsys.ix.get(f.k); ok && (e.pending || e.held) {
		f.setBaseLocked(bytes.Clone(e.value), e.rev)
		f.fresh = e.pending
		return 0
	}
	if errno := f.fsys.ready(); errno != 0 {
		return errno
	}
	rctx, cancel := f.fsys.request()
	ent, err := f.fsys.kv.Get(rctx, f.k)
	cancel()
	if err != nil {
		return f.fsys.fail("get", f.k, err)
	}
	value := ent.Value()
	f.fsys.ix.applyPut(f.k, ent.Revision(), value, ent.Created())
	f.setBaseLocked(value, ent.Revision())
	return 0
}

func (f *fileNode) setBaseLocked(value []byte, rev uint64) {
	if value == nil {
		value = []byte{}
	}
	f.loaded, f.buf, f.baseRev, f.baseLen = true, value, rev, len(value)
	f.dirty, f.fresh, f.appendOnly = false, false, true
}

func (f *fileNode) truncateLocked(size int) {
	if !f.loaded {
		f.buf = nil
	}
	f.loaded = true
	if size <= len(f.buf) {
		f.buf = f.buf[:size]
		if size < f.baseLen {
			f.appendOnly = false
		}
	} else {
		f.buf = append(f.buf, make([]byte, size-len(f.buf))...)
	}
	if size == 0 {
		f.fresh = true
	}
	f.dirty = true
	f.mtime = nowTime()
}

func (h *handle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	f := h.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.loaded {
		if errno := f.loadLocked(); errno != 0 {
			return nil, errno
		}
	}
	if off >= int64(len(f.buf)) {
		return fuse.ReadResultData(nil), 0
	}
	n := copy(dest, f.buf[off:])
	return fuse.ReadResultData(dest[:n]), 0
}

func (h *handle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	f := h.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.loaded {
		if errno := f.loadLocked(); errno != 0 {
			return 0, errno
		}
	}
	if h.appends && off != int64(len(f.buf)) {
		// The kernel placed the bytes (in its page cache too) at the
		// end it believed in; have it drop that view.
		off = int64(len(f.buf))
		f.fsys.notify.add(f.k)
	}
	if !h.appends {
		f.appendOnly = false
	}
	end := off + int64(len(data))
	if end > f.fsys.maxValue {
		f.fsys.lg.Warn("write past the bucket's largest value: EFBIG", "key", f.k, "size", end, "max", f.fsys.maxValue)
		return 0, syscall.EFBIG
	}
	if end > int64(len(f.buf)) {
		if end <= int64(cap(f.buf)) {
			f.buf = f.buf[:end]
		} else {
			grown := make([]byte, end, max(end, 2*int64(cap(f.buf))))
			copy(grown, f.buf)
			f.buf = grown
		}
	}
	copy(f.buf[off:], data)
	f.dirty = true
	f.mtime = nowTime()
	return uint32(len(data)), 0
}

// Flush runs on every close of a file descriptor: it writes the buffer if
// it changed. Its error is what close() returns.
func (h *handle) Flush(ctx context.Context) syscall.Errno {
	return h.f.commit()
}

func (h *handle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	return h.f.commit()
}

// Release runs after the last close of this handle (asynchronously): it
// saves what a failed or skipped flush left (writes through mmap can come
// after the flush) and drops the buffer when no handle is left.
func (h *handle) Release(ctx context.Context) syscall.Errno {
	f := h.f
	f.mu.Lock()
	defer f.mu.Unlock()
	f.opens--
	if h.writable {
		f.writers--
	}
	if f.opens > 0 {
		return 0
	}
	if f.dirty && !f.gone {
		if errno := f.commitLocked(); errno != 0 {
			f.fsys.lg.Error("changes to a file were not saved", "key", f.k, "errno", errno.Error())
		}
	}
	f.loaded, f.buf, f.dirty = false, nil, false
	return 0
}

func (f *fileNode) commit() syscall.Errno {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.commitLocked()
}

// commitLocked writes the buffer as one new revision: unconditionally if
// it does not depend on an earlier value, else as an update of baseRev.
func (f *fileNode) commitLocked() syscall.Errno {
	if !f.dirty {
		return 0
	}
	if f.gone {
		f.dirty = false
		return 0
	}
	if errno := f.fsys.ready(); errno != 0 {
		return errno
	}
	value := bytes.Clone(f.buf)
	if value == nil {
		value = []byte{}
	}
	var rev uint64
	var err error
	f.fsys.gate.RLock()
	defer f.fsys.gate.RUnlock()
	rctx, cancel := f.fsys.request()
	switch {
	case f.baseRev == 0 && f.appendOnly && len(value) > 0:
		// A new file only appended to: another appender may have
		// created it meanwhile.
		rev, err = f.fsys.kv.Create(rctx, f.k, value)
	case f.fresh || f.baseRev == 0:
		rev, err = f.fsys.kv.Put(rctx, f.k, value)
	default:
		rev, err = f.fsys.kv.Update(rctx, f.k, value, f.baseRev)
	}
	cancel()
	if isConflict(err) && f.appendOnly {
		value, rev, err = f.rebaseLocked()
	}
	if err != nil {
		if isConflict(err) {
			f.fsys.lg.Warn("file changed by another writer since it was read; this write is refused (ESTALE)",
				"key", f.k, "read-revision", f.baseRev)
			return syscall.ESTALE
		}
		return f.fsys.fail("write", f.k, err)
	}
	mtime := f.mtime
	if mtime.IsZero() {
		mtime = nowTime()
	}
	f.fsys.ix.wrote(f.k, rev, value, mtime)
	f.last = entry{rev: rev, size: int64(len(value)), mtime: mtime}
	f.buf = value
	f.baseRev, f.baseLen, f.cachedRev = rev, len(value), rev
	f.dirty, f.fresh, f.appendOnly = false, false, true
	return 0
}

// rebaseLocked re-applies the bytes appended since baseRev on top of the
// key's latest value, for appends that raced with another writer. Each
// conflict means another writer succeeded, so the cluster makes progress;
// this writer keeps trying, with a short random pause so that two mounts
// appending in lock step fall out of step, until one request timeout has
// passed in all.
func (f *fileNode) rebaseLocked() ([]byte, uint64, error) {
	added := f.buf[f.baseLen:]
	deadline := time.Now().Add(f.fsys.opts.Timeout)
	var err error
	for try := 0; ; try++ {
		rctx, cancel := f.fsys.request()
		var base []byte
		var baseRev uint64
		ent, gerr := f.fsys.kv.Get(rctx, f.k)
		switch {
		case gerr == nil:
			base, baseRev = ent.Value(), ent.Revision()
		case !errors.Is(gerr, jetstream.ErrKeyNotFound):
			cancel()
			return nil, 0, gerr
		}
		value := append(bytes.Clone(base), added...)
		if int64(len(value)) > f.fsys.maxValue {
			cancel()
			return nil, 0, errTooBig
		}
		var rev uint64
		if baseRev == 0 {
			rev, err = f.fsys.kv.Create(rctx, f.k, value)
		} else {
			rev, err = f.fsys.kv.Update(rctx, f.k, value, baseRev)
		}
		cancel()
		if err == nil {
			// The kernel holds the old bytes: have it drop them.
			f.fsys.notify.add(f.k)
			return value, rev, nil
		}
		if !isConflict(err) || time.Now().After(deadline) {
			return nil, 0, err
		}
		time.Sleep(appendBackoff(try))
	}
}

// appendBackoff is the pause before the next try of a raced append: random
// up to a bound that doubles from 1 ms to 32 ms.
func appendBackoff(try int) time.Duration {
	limit := time.Millisecond << min(try, 5)
	return time.Duration(rand.Int64N(int64(limit)))
}

var errTooBig = errors.New("value too large for the bucket")

func (f *fileNode) Setattr(ctx context.Context, fh fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if f.fsys.opts.ReadOnly {
		return syscall.EROFS
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if size, ok := in.GetSize(); ok {
		if int64(size) > f.fsys.maxValue {
			return syscall.EFBIG
		}
		if !f.loaded && size > 0 {
			if errno := f.loadLocked(); errno != 0 {
				return errno
			}
		}
		f.truncateLocked(int(size))
		if f.writers == 0 {
			// truncate(2) of a file nobody has open for writing: it is
			// a whole change by itself.
			errno := f.commitLocked()
			if f.opens == 0 {
				f.loaded, f.buf = false, nil
			}
			if errno != 0 {
				return errno
			}
		}
	}
	if mtime, ok := in.GetMTime(); ok {
		// Kept in this mount only, for the current revision: a key has
		// no room for times (see docs/fuse.md).
		if f.dirty {
			f.mtime = mtime
		} else if f.fsys.ix.setMtime(f.k, f.baseRevLocked(), mtime) {
			f.last.mtime = mtime
		}
	}
	// Mode and owner are accepted and ignored: a key has no such metadata.
	f.fillAttrLocked(&out.Attr, nil)
	return 0
}

// baseRevLocked is the revision the file shows: its buffer's, or the
// index's when nothing is loaded.
func (f *fileNode) baseRevLocked() uint64 {
	if f.loaded {
		return f.baseRev
	}
	e, _ := f.fsys.ix.get(f.k)
	return e.rev
}

// Allocate supports plain fallocate, which extends the file with zeros.
func (f *fileNode) Allocate(ctx context.Context, fh fs.FileHandle, off uint64, size uint64, mode uint32) syscall.Errno {
	if mode != 0 {
		return syscall.EOPNOTSUPP
	}
	if f.fsys.opts.ReadOnly {
		return syscall.EROFS
	}
	end := off + size
	if int64(end) > f.fsys.maxValue {
		return syscall.EFBIG
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.loaded {
		if errno := f.loadLocked(); errno != 0 {
			return errno
		}
	}
	if int(end) > len(f.buf) {
		f.truncateLocked(int(end))
	}
	return 0
}
