package fusefs

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/posixtest"
	"golang.org/x/sys/unix"
)

// posixSkipped are go-fuse's POSIX tests that do not apply, and why
// (docs/fuse.md, "Not supported").
var posixSkipped = map[string]string{
	"FileBasic":           "checks that the mode given to create is kept; a key has no mode",
	"FcntlFlockLocksFile": "expects locks owned per open file, as a FUSE lock server keeps them; the mount forwards no locks, so the kernel keeps them locally, owned per process as on a disk",
	"Link":                "no hard links: a key has one name",
	"LinkUnlinkRename":    "no hard links: a key has one name",
	"SymlinkReadlink":     "no symlinks: a value has no room for a file type",
	"SetattrSymlink":      "no symlinks: a value has no room for a file type",
	"OpenSymlinkRace":     "no symlinks: a value has no room for a file type",
	"XAttr":               "no user-settable extended attributes: a key has no room for them",
	"XAttrLarge":          "no user-settable extended attributes: a key has no room for them",
	"FallocateKeepSize":   "fallocate only extends files (mode 0)",
	"Tmpfile":             "no O_TMPFILE: a file without a name has no key",
}

// TestPosix runs go-fuse's posixtest suite against one mount, each test in
// a directory of its own.
func TestPosix(t *testing.T) {
	_, dir, _ := setup(t)
	var names []string
	for name := range posixtest.All {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			if why, ok := posixSkipped[name]; ok {
				t.Skip(why)
			}
			sub := filepath.Join(dir, name)
			if err := os.Mkdir(sub, 0o755); err != nil {
				t.Fatal(err)
			}
			posixtest.All[name](t, sub)
		})
	}
}

// TestXattrs: the key, revision, revision time and history of a file.
func TestXattrs(t *testing.T) {
	kv, dir, _ := setup(t)
	ctx := ctxT(t)
	p := filepath.Join(dir, "cfg/app.yaml")
	for _, v := range []string{"v1", "v2", "v3"} {
		if _, err := kv.Put(ctx, "cfg.app=2Eyaml", []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "v3", fileIs(p, "v3"))
	e, err := kv.Get(ctx, "cfg.app=2Eyaml")
	if err != nil {
		t.Fatal(err)
	}
	get := func(path, attr string) string {
		t.Helper()
		buf := make([]byte, 4096)
		n, err := unix.Getxattr(path, attr, buf)
		if err != nil {
			t.Fatalf("getxattr %s %s: %v", path, attr, err)
		}
		return string(buf[:n])
	}
	if got := get(p, xattrKey); got != "cfg.app=2Eyaml" {
		t.Fatalf("key = %q", got)
	}
	if got := get(p, xattrRevision); got != strconv.FormatUint(e.Revision(), 10) {
		t.Fatalf("revision = %q, want %d", got, e.Revision())
	}
	created, err := time.Parse(time.RFC3339Nano, get(p, xattrCreated))
	if err != nil || !created.Equal(e.Created()) {
		t.Fatalf("created = %v (%v), want %v", created, err, e.Created())
	}
	hist := strings.Split(strings.TrimSpace(get(p, xattrHistory)), "\n")
	if len(hist) != 3 || !strings.HasSuffix(hist[2], " PUT 2") {
		t.Fatalf("history = %q", hist)
	}
	if got := get(filepath.Join(dir, "cfg"), xattrKey); got != "cfg" {
		t.Fatalf("directory key = %q", got)
	}
	buf := make([]byte, 1024)
	n, err := unix.Listxattr(p, buf)
	if err != nil || !strings.Contains(string(buf[:n]), xattrHistory) {
		t.Fatalf("listxattr = %q, %v", buf[:n], err)
	}
	if err := unix.Setxattr(p, "user.other", []byte("x"), 0); !errors.Is(err, syscall.ENOTSUP) {
		t.Fatalf("setxattr: %v, want ENOTSUP", err)
	}
	if err := unix.Setxattr(p, xattrRevision, []byte("1"), 0); !errors.Is(err, syscall.ENOTSUP) {
		t.Fatalf("setxattr of a cairn attribute: %v, want ENOTSUP", err)
	}
	// Labels and ACLs do not exist: ENOTSUP, so ls -l stops asking.
	if _, err := unix.Lgetxattr(p, "security.selinux", buf); !errors.Is(err, syscall.ENOTSUP) {
		t.Fatalf("security.selinux: %v, want ENOTSUP", err)
	}
	if _, err := unix.Getxattr(p, "system.posix_acl_access", nil); !errors.Is(err, syscall.ENOTSUP) {
		t.Fatalf("system.posix_acl_access: %v, want ENOTSUP", err)
	}
	if _, err := unix.Getxattr(p, "user.other", buf); !errors.Is(err, syscall.ENODATA) {
		t.Fatalf("user.other: %v, want ENODATA", err)
	}
}

// TestReadOnly: a read-only mount reads and follows changes, and refuses
// every change with EROFS.
func TestReadOnly(t *testing.T) {
	needFUSE(t)
	url := startCairn(t)
	kv := newBucket(t, url, "ro")
	if _, err := kv.Put(ctxT(t), "a.b", []byte("x")); err != nil {
		t.Fatal(err)
	}
	_, dir := mountAt(t, url, "ro", Options{ReadOnly: true})
	eventually(t, "a/b", fileIs(filepath.Join(dir, "a/b"), "x"))
	if _, err := kv.Put(ctxT(t), "a.c", []byte("y")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a/c", fileIs(filepath.Join(dir, "a/c"), "y"))
	for what, op := range map[string]func() error{
		"write":  func() error { return os.WriteFile(filepath.Join(dir, "a/b"), []byte("z"), 0o644) },
		"create": func() error { return os.WriteFile(filepath.Join(dir, "new"), nil, 0o644) },
		"mkdir":  func() error { return os.Mkdir(filepath.Join(dir, "d"), 0o755) },
		"unlink": func() error { return os.Remove(filepath.Join(dir, "a/b")) },
		"rename": func() error { return os.Rename(filepath.Join(dir, "a/b"), filepath.Join(dir, "a/z")) },
	} {
		if err := op(); !errors.Is(err, syscall.EROFS) {
			t.Errorf("%s on a read-only mount: %v, want EROFS", what, err)
		}
	}
}
