package fusefs

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func TestRenameFile(t *testing.T) {
	kv, dir, _ := setup(t)
	ctx := ctxT(t)
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "sub/dst")
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(src, []byte("v1"), 0o644); err != nil {
		t.Fatal(err)
	}
	var before syscall.Stat_t
	if err := syscall.Stat(src, &before); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(src, dst); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Get(ctx, "src"); err == nil {
		t.Fatal("source key still there")
	}
	eventually(t, "sub.dst", keyIs(kv, "sub.dst", "v1"))
	var after syscall.Stat_t
	if err := syscall.Stat(dst, &after); err != nil || after.Ino != before.Ino {
		t.Fatalf("inode after rename %d, before %d (%v)", after.Ino, before.Ino, err)
	}

	// Over an existing file.
	if err := os.WriteFile(src, []byte("v2"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(src, dst); err != nil {
		t.Fatal(err)
	}
	eventually(t, "sub.dst replaced", keyIs(kv, "sub.dst", "v2"))

	// RENAME_NOREPLACE.
	if err := os.WriteFile(src, []byte("v3"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := unix.Renameat2(unix.AT_FDCWD, src, unix.AT_FDCWD, dst, unix.RENAME_NOREPLACE)
	if !errors.Is(err, syscall.EEXIST) {
		t.Fatalf("RENAME_NOREPLACE over a file: %v", err)
	}
	// A file over a directory, a directory over a file (syscall.Rename:
	// os.Rename checks for a directory itself).
	if err := syscall.Rename(src, filepath.Join(dir, "sub")); !errors.Is(err, syscall.EISDIR) {
		t.Fatalf("file over dir: %v", err)
	}
	if err := syscall.Rename(filepath.Join(dir, "sub"), src); !errors.Is(err, syscall.ENOTDIR) {
		t.Fatalf("dir over file: %v", err)
	}
}

// TestRenameOpenFile: a handle open across a rename writes to the new name.
func TestRenameOpenFile(t *testing.T) {
	kv, dir, _ := setup(t)
	tmp, final := filepath.Join(dir, ".f.tmp"), filepath.Join(dir, "f")
	f, err := os.Create(tmp)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("draft")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, final); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte(" and more")); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "f", keyIs(kv, "f", "draft and more"))
	if err := absent(tmp)(); err != nil {
		t.Fatal(err)
	}
}

func TestRenameDirectory(t *testing.T) {
	kv, dir, _ := setup(t)
	ctx := ctxT(t)
	for _, k := range []string{"d.a", "d.b.c", "d.b.e"} {
		if _, err := kv.Put(ctx, k, []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "d/b/e", fileIs(filepath.Join(dir, "d/b/e"), "d.b.e"))
	if err := os.Mkdir(filepath.Join(dir, "d/empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "d"), filepath.Join(dir, "moved")); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a", "b.c", "b.e"} {
		eventually(t, "moved."+k, keyIs(kv, "moved."+k, "d."+k))
		if _, err := kv.Get(ctx, "d."+k); err == nil {
			t.Fatalf("d.%s still there", k)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "moved/empty")); err != nil || !fi.IsDir() {
		t.Fatalf("empty dir did not move: %v", err)
	}
	if err := absent(filepath.Join(dir, "d"))(); err != nil {
		t.Fatal(err)
	}
	// Over a non-empty directory.
	if err := os.MkdirAll(filepath.Join(dir, "other/x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "other/x/f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Rename(filepath.Join(dir, "moved"), filepath.Join(dir, "other")); !errors.Is(err, syscall.ENOTEMPTY) {
		t.Fatalf("dir over non-empty dir: %v", err)
	}
}

// TestAtomicSave is an editor's save: write a temporary file, fsync, rename
// it over the original. Another client sees the old value or the new one,
// never a missing or partial file.
func TestAtomicSave(t *testing.T) {
	kv, dir, _ := setup(t)
	ctx := ctxT(t)
	p := filepath.Join(dir, "doc.txt")
	if err := os.WriteFile(p, []byte("version 0"), 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := kv.Watch(ctx, "doc=2Etxt")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	for i := 1; i <= 5; i++ {
		tmp := filepath.Join(dir, ".doc.txt.swp")
		f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write([]byte("version " + string(rune('0'+i)))); err != nil {
			t.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, p); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "last version", keyIs(kv, "doc=2Etxt", "version 5"))
	// The watcher of the key saw only whole versions, never a delete.
	for seen := 0; ; {
		e := <-w.Updates()
		if e == nil {
			continue
		}
		if e.Operation().String() != "KeyValuePutOp" || len(e.Value()) != len("version 0") {
			t.Fatalf("watcher saw %s %q", e.Operation(), e.Value())
		}
		if seen++; string(e.Value()) == "version 5" {
			break
		}
	}
}
