package fusefs

import (
	"context"
	"strings"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/nats-io/nats.go/jetstream"
)

// renameNoReplace is renameat2's RENAME_NOREPLACE.
const renameNoReplace = 0x1

// Rename moves a file as two revision-checked writes: the destination is
// written with the source's value (an update of the revision it had, or a
// create if it had none), then the source is deleted only if it still has
// the revision that was copied. A crash between the two leaves the value
// under both names, never under neither; a source changed meanwhile is
// kept and the rename fails with ESTALE. A directory moves key by key.
func (d *dirNode) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	if errno := d.checkWrite(); errno != 0 {
		return errno
	}
	if flags&^renameNoReplace != 0 {
		return syscall.EINVAL // RENAME_EXCHANGE, RENAME_WHITEOUT
	}
	dst, ok := newParent.(*dirNode)
	if !ok {
		return syscall.EXDEV
	}
	srcKey, sk, _, err := d.childOf(name)
	if err != nil || sk == kindNone {
		return syscall.ENOENT
	}
	dstKey, errno := dst.newKey(newName)
	if errno != 0 {
		return errno
	}
	_, dk, _, _ := dst.childOf(newName)
	if newName != valueName && dk == kindNone {
		dk = d.fsys.ix.kindOf(dstKey)
	}
	if dk != kindNone && flags&renameNoReplace != 0 {
		return syscall.EEXIST
	}
	if srcKey == dstKey {
		return 0
	}
	srcInode := d.GetChild(name)
	dstInode := dst.GetChild(newName)

	if sk == kindFile {
		if dk == kindDir {
			return syscall.EISDIR
		}
		if f, ok := nodeOf[*fileNode](srcInode); ok {
			// Save what is written but not yet flushed, so it moves too.
			if errno := f.commit(); errno != 0 {
				return errno
			}
		}
		dstEntry, dstHad := d.fsys.ix.get(dstKey)
		if errno := d.fsys.moveKey(srcKey, dstKey, 0, true); errno != 0 {
			return errno
		}
		if f, ok := nodeOf[*fileNode](dstInode); ok && dstInode != srcInode {
			f.orphan(dstEntry, dstHad)
		}
		if f, ok := nodeOf[*fileNode](srcInode); ok {
			f.movedTo(dstKey)
		}
		return 0
	}

	// A directory.
	if strings.HasPrefix(dstKey+".", srcKey+".") {
		return syscall.EINVAL // into itself
	}
	switch dk {
	case kindFile:
		return syscall.ENOTDIR
	case kindDir:
		if err := d.fsys.ix.rmdir(dstKey); err != nil {
			return syscall.ENOTEMPTY
		}
	}
	if dn, ok := nodeOf[*dirNode](srcInode); ok {
		if errno := dn.commitAll(); errno != 0 {
			return errno
		}
	}
	if errno := d.fsys.moveDir(srcKey, dstKey); errno != 0 {
		return errno
	}
	if dn, ok := nodeOf[*dirNode](srcInode); ok {
		dn.setPrefix(dstKey)
	}
	return 0
}

// nodeOf returns the node of an inode if it is of type T.
func nodeOf[T any](in *fs.Inode) (T, bool) {
	var zero T
	if in == nil {
		return zero, false
	}
	n, ok := in.Operations().(T)
	return n, ok
}

// commitAll saves the unflushed writes of every open file below d.
func (d *dirNode) commitAll() syscall.Errno {
	for _, child := range d.Children() {
		switch c := child.Operations().(type) {
		case *dirNode:
			if errno := c.commitAll(); errno != 0 {
				return errno
			}
		case *fileNode:
			if errno := c.commit(); errno != 0 {
				return errno
			}
		}
	}
	return 0
}

// moveKey copies src's value to dst and deletes src, both checked
// against revisions. srcRev is the source revision to move (0: the
// latest); replace allows overwriting an existing dst.
func (fsys *filesys) moveKey(src, dst string, srcRev uint64, replace bool) syscall.Errno {
	value, rev, errno := fsys.valueAt(src, srcRev)
	if errno != 0 {
		return errno
	}
	if e, ok := fsys.ix.get(dst); ok && e.pending {
		fsys.ix.dropPending(dst)
	}
	mtime := nowTime()
	if e, ok := fsys.ix.get(src); ok && e.rev == rev {
		mtime = e.mtime // a rename keeps the file's time, as on a disk
	}
	if errno := fsys.writeOver(dst, value, mtime, replace); errno != 0 {
		return errno
	}
	fsys.gate.RLock()
	rctx, cancel := fsys.request()
	err := fsys.kv.Delete(rctx, src, jetstream.LastRevision(rev))
	cancel()
	if err == nil {
		fsys.ix.movedKey(src, dst, rev)
	}
	fsys.gate.RUnlock()
	if err != nil {
		if isConflict(err) {
			fsys.lg.Warn("rename: the source changed while it was copied; both names now hold a value (ESTALE)",
				"from", src, "to", dst, "copied-revision", rev)
			return syscall.ESTALE
		}
		fsys.lg.Warn("rename: copied but the source was not deleted; both names now hold the value",
			"from", src, "to", dst, "err", err)
		return fsys.fail("rename", src, err)
	}
	return 0
}

// valueAt returns src's value and revision: from the index if it holds
// the value, else from the server.
func (fsys *filesys) valueAt(key string, want uint64) ([]byte, uint64, syscall.Errno) {
	if e, ok := fsys.ix.get(key); ok && e.held && !e.pending && (want == 0 || want == e.rev) {
		return e.value, e.rev, 0
	}
	rctx, cancel := fsys.request()
	defer cancel()
	ent, err := fsys.kv.Get(rctx, key)
	if err != nil {
		return nil, 0, fsys.fail("get", key, err)
	}
	if want != 0 && ent.Revision() != want {
		return nil, 0, syscall.ESTALE
	}
	return ent.Value(), ent.Revision(), 0
}

// writeOver writes value at key: an update of the revision key has, or a
// create if it has none (failing with EEXIST unless replace). A writer
// that changes key meanwhile is retried over, as rename replaces
// whatever is there.
func (fsys *filesys) writeOver(key string, value []byte, mtime time.Time, replace bool) syscall.Errno {
	fsys.gate.RLock()
	defer fsys.gate.RUnlock()
	rev, errno := fsys.writeOverLocked(key, value, replace)
	if errno == 0 {
		fsys.ix.wrote(key, rev, value, mtime)
	}
	return errno
}

func (fsys *filesys) writeOverLocked(key string, value []byte, replace bool) (uint64, syscall.Errno) {
	var have uint64
	if e, ok := fsys.ix.get(key); ok && !e.pending {
		if !replace {
			return 0, syscall.EEXIST
		}
		have = e.rev
	}
	for try := 0; ; try++ {
		rctx, cancel := fsys.request()
		var rev uint64
		var err error
		if have == 0 {
			rev, err = fsys.kv.Create(rctx, key, value)
		} else {
			rev, err = fsys.kv.Update(rctx, key, value, have)
		}
		cancel()
		if err == nil {
			return rev, 0
		}
		if !isConflict(err) || try == 3 {
			return 0, fsys.fail("rename", key, err)
		}
		r, errno := fsys.currentRev(key)
		switch {
		case errno == syscall.ENOENT:
			have = 0
		case errno != 0:
			return 0, errno
		case !replace:
			return 0, syscall.EEXIST
		default:
			have = r
		}
	}
}

// moveDir moves every key and local directory below src to dst.
func (fsys *filesys) moveDir(src, dst string) syscall.Errno {
	keys, dirs := fsys.ix.under(src)
	for _, kr := range keys {
		to := dst + strings.TrimPrefix(kr.key, src)
		if errno := fsys.moveKey(kr.key, to, kr.rev, false); errno != 0 {
			fsys.lg.Warn("directory rename stopped part way; the keys moved so far stay moved",
				"from", src, "to", dst, "failed-key", kr.key)
			return errno
		}
	}
	fsys.ix.moveLocalDirs(src, dst, dirs)
	return 0
}
