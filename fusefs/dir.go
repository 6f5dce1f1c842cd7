package fusefs

import (
	"context"
	"errors"
	"sync"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/nats-io/nats.go/jetstream"
)

// dirNode is a directory: a key prefix with keys below it, or a
// directory that exists only in this mount (see index.mkdir).
type dirNode struct {
	fs.Inode
	fsys *filesys

	mu     sync.Mutex
	prefix string // "" for the root
}

var (
	_ fs.NodeLookuper      = (*dirNode)(nil)
	_ fs.NodeReaddirer     = (*dirNode)(nil)
	_ fs.NodeGetattrer     = (*dirNode)(nil)
	_ fs.NodeSetattrer     = (*dirNode)(nil)
	_ fs.NodeCreater       = (*dirNode)(nil)
	_ fs.NodeMkdirer       = (*dirNode)(nil)
	_ fs.NodeRmdirer       = (*dirNode)(nil)
	_ fs.NodeUnlinker      = (*dirNode)(nil)
	_ fs.NodeRenamer       = (*dirNode)(nil)
	_ fs.NodeSymlinker     = (*dirNode)(nil)
	_ fs.NodeLinker        = (*dirNode)(nil)
	_ fs.NodeMknoder       = (*dirNode)(nil)
	_ fs.NodeStatfser      = (*dirNode)(nil)
	_ fs.NodeFsyncer       = (*dirNode)(nil)
	_ fs.NodeGetxattrer    = (*dirNode)(nil)
	_ fs.NodeListxattrer   = (*dirNode)(nil)
	_ fs.NodeSetxattrer    = (*dirNode)(nil)
	_ fs.NodeRemovexattrer = (*dirNode)(nil)
)

func (d *dirNode) key() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.prefix
}

// setPrefix renames the directory and everything the kernel knows below
// it, after a directory rename.
func (d *dirNode) setPrefix(prefix string) {
	d.mu.Lock()
	d.prefix = prefix
	d.mu.Unlock()
	for name, child := range d.Children() {
		key, err := childKey(prefix, name)
		if err != nil {
			continue
		}
		switch c := child.Operations().(type) {
		case *dirNode:
			c.setPrefix(key)
		case *fileNode:
			c.movedTo(key)
		}
	}
}

// childOf resolves a name in d to its key and what is there. For
// valueName that is the directory's own value, a file if it exists.
func (d *dirNode) childOf(name string) (key string, k kind, e entry, err error) {
	key, err = childKey(d.key(), name)
	if err != nil {
		return "", kindNone, entry{}, err
	}
	k, e = d.fsys.ix.lookup(key)
	if name == valueName {
		k = kindNone
		if ent, ok := d.fsys.ix.get(key); ok {
			k, e = kindFile, ent
		}
	}
	return key, k, e, nil
}

func (d *dirNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if d.fsys.gone.Load() {
		return nil, syscall.EIO
	}
	key, k, e, err := d.childOf(name)
	if err != nil || k == kindNone {
		return nil, syscall.ENOENT
	}
	child := d.child(ctx, name, key, k)
	switch c := child.Operations().(type) {
	case *fileNode:
		c.fillAttr(&out.Attr, &e)
	case *dirNode:
		c.fillAttr(&out.Attr)
	}
	return child, 0
}

// child returns the inode of name: the one the kernel already has when it
// still fits, else a new one. Inode numbers stay with a key for as long
// as it exists (and move with it on rename).
func (d *dirNode) child(ctx context.Context, name, key string, k kind) *fs.Inode {
	if old := d.GetChild(name); old != nil {
		switch c := old.Operations().(type) {
		case *fileNode:
			if k == kindFile && c.key() == key {
				return old
			}
		case *dirNode:
			if k == kindDir && c.key() == key {
				return old
			}
		}
	}
	ino := d.fsys.ix.inoOf(key, k)
	if k == kindDir {
		return d.NewInode(ctx, &dirNode{fsys: d.fsys, prefix: key}, fs.StableAttr{Mode: syscall.S_IFDIR, Ino: ino})
	}
	return d.NewInode(ctx, &fileNode{fsys: d.fsys, k: key}, fs.StableAttr{Mode: syscall.S_IFREG, Ino: ino})
}

func (d *dirNode) fillAttr(a *fuse.Attr) {
	a.Mode = syscall.S_IFDIR | 0o755
	if d.fsys.opts.ReadOnly {
		a.Mode = syscall.S_IFDIR | 0o555
	}
	a.Nlink = 2
	a.Size = 4096
	a.Blocks = 8
	a.Blksize = 4096
	a.Uid, a.Gid = d.fsys.uid, d.fsys.gid
	t := d.fsys.started
	a.SetTimes(&t, &t, &t)
}

func (d *dirNode) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	d.fillAttr(&out.Attr)
	return 0
}

// Setattr accepts mode, owner and time changes and ignores them (see
// docs/fuse.md): directories have no metadata of their own.
func (d *dirNode) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if d.fsys.opts.ReadOnly {
		return syscall.EROFS
	}
	d.fillAttr(&out.Attr)
	return 0
}

func (d *dirNode) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	if d.fsys.gone.Load() {
		return nil, syscall.EIO
	}
	prefix := d.key()
	ents, ok := d.fsys.ix.list(prefix)
	if !ok {
		return nil, syscall.ENOENT
	}
	out := make([]fuse.DirEntry, 0, len(ents))
	for _, e := range ents {
		name := valueName
		if e.tok != "" {
			n, err := tokenName(e.tok)
			if err != nil || len(n) > maxNameLen {
				d.fsys.unmappable("key", joinKey(prefix, e.tok))
				continue
			}
			name = n
		}
		mode := uint32(syscall.S_IFREG)
		if e.kind == kindDir {
			mode = syscall.S_IFDIR
		}
		out = append(out, fuse.DirEntry{Name: name, Mode: mode})
	}
	return fs.NewListDirStream(out), 0
}

// checkWrite is the common gate of operations that change the bucket.
func (d *dirNode) checkWrite() syscall.Errno {
	if d.fsys.opts.ReadOnly {
		return syscall.EROFS
	}
	return d.fsys.ready()
}

// newKey resolves a name for an operation that creates it: an
// unmappable name is EINVAL, with a log line.
func (d *dirNode) newKey(name string) (string, syscall.Errno) {
	key, err := childKey(d.key(), name)
	if err != nil {
		d.fsys.unmappable("name", name)
		return "", syscall.EINVAL
	}
	if len(key) > maxKeyLen {
		return "", syscall.ENAMETOOLONG
	}
	return key, 0
}

func (d *dirNode) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	if errno := d.checkWrite(); errno != 0 {
		return nil, nil, 0, errno
	}
	key, errno := d.newKey(name)
	if errno != 0 {
		return nil, nil, 0, errno
	}
	_, k, _, _ := d.childOf(name)
	if k == kindNone && name != valueName {
		k = d.fsys.ix.kindOf(key)
	}
	switch {
	case k == kindDir:
		return nil, nil, 0, syscall.EISDIR
	case k == kindFile && flags&syscall.O_EXCL != 0:
		return nil, nil, 0, syscall.EEXIST
	case k == kindFile:
		// Created elsewhere since the kernel looked: open it.
		child := d.child(ctx, name, key, kindFile)
		f := child.Operations().(*fileNode)
		fh, fuseFlags, errno := f.Open(ctx, flags)
		if errno != 0 {
			return nil, nil, 0, errno
		}
		f.fillAttr(&out.Attr, nil)
		return child, fh, fuseFlags, 0
	}

	var rev uint64
	if flags&syscall.O_EXCL != 0 {
		// O_EXCL must fail if any client created the key first (lock
		// files rely on it), so the key is created now, empty.
		d.fsys.gate.RLock()
		rctx, cancel := d.fsys.request()
		r, err := d.fsys.kv.Create(rctx, key, nil)
		cancel()
		if err == nil {
			d.fsys.ix.wrote(key, r, []byte{}, nowTime())
		}
		d.fsys.gate.RUnlock()
		if err != nil {
			if isConflict(err) {
				return nil, nil, 0, syscall.EEXIST
			}
			return nil, nil, 0, d.fsys.fail("create", key, err)
		}
		rev = r
	} else {
		d.fsys.ix.addPending(key, nowTime())
	}
	child := d.child(ctx, name, key, kindFile)
	f := child.Operations().(*fileNode)
	fh := f.openNew(flags, rev)
	f.fillAttr(&out.Attr, nil)
	return child, fh, 0, 0
}

func (d *dirNode) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if d.fsys.opts.ReadOnly {
		return nil, syscall.EROFS
	}
	if d.fsys.gone.Load() {
		return nil, syscall.EIO
	}
	if name == valueName {
		return nil, syscall.EINVAL
	}
	key, errno := d.newKey(name)
	if errno != 0 {
		return nil, errno
	}
	switch err := d.fsys.ix.mkdir(key); {
	case errors.Is(err, errExists):
		return nil, syscall.EEXIST
	case errors.Is(err, errNotDir):
		return nil, syscall.ENOENT
	case err != nil:
		return nil, syscall.EIO
	}
	child := d.child(ctx, name, key, kindDir)
	child.Operations().(*dirNode).fillAttr(&out.Attr)
	return child, 0
}

func (d *dirNode) Rmdir(ctx context.Context, name string) syscall.Errno {
	if d.fsys.opts.ReadOnly {
		return syscall.EROFS
	}
	if d.fsys.gone.Load() {
		return syscall.EIO
	}
	key, err := childKey(d.key(), name)
	if err != nil || name == valueName {
		return syscall.ENOENT
	}
	switch err := d.fsys.ix.rmdir(key); {
	case errors.Is(err, errNotFound):
		return syscall.ENOENT
	case errors.Is(err, errNotDir):
		return syscall.ENOTDIR
	case errors.Is(err, errNotEmpty):
		return syscall.ENOTEMPTY
	case err != nil:
		return syscall.EIO
	}
	return 0
}

func (d *dirNode) Unlink(ctx context.Context, name string) syscall.Errno {
	if errno := d.checkWrite(); errno != 0 {
		return errno
	}
	key, k, e, err := d.childOf(name)
	switch {
	case err != nil || k == kindNone:
		return syscall.ENOENT
	case k == kindDir:
		return syscall.EISDIR
	}
	if e.pending {
		d.fsys.ix.dropPending(key)
	} else if errno := d.fsys.deleteKey(key, e.rev); errno != 0 {
		return errno
	}
	if f, ok := nodeOf[*fileNode](d.GetChild(name)); ok {
		f.orphan(e, true)
	}
	return 0
}

// deleteKey deletes key, checking that its revision is still rev (or the
// one a fresh read finds, if someone wrote it meanwhile: unlink removes
// whatever is there, as on a disk).
func (fsys *filesys) deleteKey(key string, rev uint64) syscall.Errno {
	for try := 0; ; try++ {
		fsys.gate.RLock()
		rctx, cancel := fsys.request()
		err := fsys.kv.Delete(rctx, key, jetstream.LastRevision(rev))
		cancel()
		if err == nil {
			fsys.ix.deleted(key, rev)
		}
		fsys.gate.RUnlock()
		if err == nil {
			return 0
		}
		if !isConflict(err) || try == 3 {
			return fsys.fail("delete", key, err)
		}
		r, errno := fsys.currentRev(key)
		if errno == syscall.ENOENT {
			fsys.ix.deleted(key, 0)
			return 0 // gone already
		}
		if errno != 0 {
			return errno
		}
		rev = r
	}
}

// currentRev reads key's latest revision from the server.
func (fsys *filesys) currentRev(key string) (uint64, syscall.Errno) {
	rctx, cancel := fsys.request()
	defer cancel()
	e, err := fsys.kv.Get(rctx, key)
	if err != nil {
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
			return 0, syscall.ENOENT
		}
		return 0, fsys.fail("get", key, err)
	}
	return e.Revision(), 0
}

// Symlink is not supported: a value has no room for a file type.
func (d *dirNode) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}

// Link is not supported: a key has one name.
func (d *dirNode) Link(ctx context.Context, target fs.InodeEmbedder, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}

// Mknod is not supported: only regular files and directories exist.
func (d *dirNode) Mknod(ctx context.Context, name string, mode uint32, dev uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}

// Fsync of a directory has nothing to do: names change on the server at
// once.
func (d *dirNode) Fsync(ctx context.Context, f fs.FileHandle, flags uint32) syscall.Errno {
	return 0
}

func (d *dirNode) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	keys, _ := d.fsys.ix.stats()
	const blocks = 1 << 40 / 4096 // report 1 TiB: the bucket's limit is not a disk
	out.Bsize = 4096
	out.Frsize = 4096
	out.Blocks = blocks
	out.Bfree = blocks
	out.Bavail = blocks
	out.Files = uint64(keys) + 1<<30
	out.Ffree = 1 << 30
	out.NameLen = maxNameLen
	return 0
}
