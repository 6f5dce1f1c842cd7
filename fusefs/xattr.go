package fusefs

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Extended attributes (read-only) that show what the bucket knows about a
// file: its key, revision and the time of that revision, and the key's
// history, one line per kept revision.
const (
	xattrKey      = "user.cairn.key"
	xattrRevision = "user.cairn.revision"
	xattrCreated  = "user.cairn.created"
	xattrHistory  = "user.cairn.history"
)

var (
	fileXattrs = []string{xattrKey, xattrRevision, xattrCreated, xattrHistory}
	dirXattrs  = []string{xattrKey}
)

// putXattr copies val into dest the way getxattr(2) expects.
func putXattr(val string, dest []byte) (uint32, syscall.Errno) {
	if len(dest) < len(val) {
		return uint32(len(val)), syscall.ERANGE
	}
	return uint32(copy(dest, val)), 0
}

func listXattrs(names []string, dest []byte) (uint32, syscall.Errno) {
	return putXattr(strings.Join(names, "\x00")+"\x00", dest)
}

func (f *fileNode) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	return listXattrs(fileXattrs, dest)
}

// unsupportedXattr: security labels, ACLs and trusted attributes do not
// exist here. ENOTSUP (not ENODATA) lets tools such as ls -l remember
// that for the whole filesystem instead of asking for every file, which
// costs a round trip to the mount each.
func unsupportedXattr(attr string) bool {
	return !strings.HasPrefix(attr, "user.")
}

func (f *fileNode) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	if unsupportedXattr(attr) {
		return 0, syscall.ENOTSUP
	}
	f.mu.Lock()
	key, gone, baseRev := f.k, f.gone, f.baseRev
	f.mu.Unlock()
	e, ok := f.fsys.ix.get(key)
	if gone || !ok {
		return 0, syscall.ENODATA
	}
	var val string
	switch attr {
	case xattrKey:
		val = key
	case xattrRevision:
		val = strconv.FormatUint(max(e.rev, baseRev), 10)
	case xattrCreated:
		t := e.created
		if t.IsZero() { // written here, and the watch has not echoed it yet
			t = e.mtime
		}
		val = t.UTC().Format(time.RFC3339Nano)
	case xattrHistory:
		h, errno := f.history(key)
		if errno != 0 {
			return 0, errno
		}
		val = h
	default:
		return 0, syscall.ENODATA
	}
	return putXattr(val, dest)
}

// history renders the key's kept revisions, oldest first:
// "<revision> <RFC 3339 time> <PUT|DEL|PURGE> <length>".
func (f *fileNode) history(key string) (string, syscall.Errno) {
	if errno := f.fsys.ready(); errno != 0 {
		return "", errno
	}
	rctx, cancel := f.fsys.request()
	defer cancel()
	entries, err := f.fsys.kv.History(rctx, key)
	if err != nil {
		return "", f.fsys.fail("history", key, err)
	}
	var b strings.Builder
	for _, e := range entries {
		fmt.Fprintf(&b, "%d %s %s %d\n", e.Revision(), e.Created().UTC().Format(time.RFC3339Nano),
			opName(e.Operation()), len(e.Value()))
	}
	return b.String(), 0
}

func opName(op jetstream.KeyValueOp) string {
	switch op {
	case jetstream.KeyValueDelete:
		return "DEL"
	case jetstream.KeyValuePurge:
		return "PURGE"
	}
	return "PUT"
}

// Setxattr: a key has no room for attributes, and the cairn ones are
// read-only. ENOTSUP lets cp -a and rsync -X carry on quietly.
func (f *fileNode) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	return syscall.ENOTSUP
}

func (f *fileNode) Removexattr(ctx context.Context, attr string) syscall.Errno {
	return syscall.ENOTSUP
}

func (d *dirNode) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	return listXattrs(dirXattrs, dest)
}

func (d *dirNode) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	if unsupportedXattr(attr) {
		return 0, syscall.ENOTSUP
	}
	if attr != xattrKey {
		return 0, syscall.ENODATA
	}
	return putXattr(d.key(), dest)
}

// Setxattr of a directory: as for files (cp -a sets ACLs on directories,
// and must be told they are not supported, not that they are missing).
func (d *dirNode) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	return syscall.ENOTSUP
}

func (d *dirNode) Removexattr(ctx context.Context, attr string) syscall.Errno {
	return syscall.ENOTSUP
}
