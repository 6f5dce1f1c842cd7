package fusefs

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
)

// TestMountBasics: files and directories map to keys both ways.
func TestMountBasics(t *testing.T) {
	kv, dir, _ := setup(t)
	ctx := ctxT(t)

	// A key written elsewhere before and after the mount is a file.
	if _, err := kv.Put(ctx, "a.b.c", []byte("abc")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a/b/c appears", fileIs(filepath.Join(dir, "a/b/c"), "abc"))

	// A file written in the mount is a key.
	if err := os.WriteFile(filepath.Join(dir, "a/notes.txt"), []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, "key a.notes=2Etxt", keyIs(kv, "a.notes=2Etxt", "hello"))

	ents, err := os.ReadDir(filepath.Join(dir, "a"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if want := []string{"b", "notes.txt"}; !slices.Equal(names, want) {
		t.Fatalf("ls a = %v, want %v", names, want)
	}
	fi, err := os.Stat(filepath.Join(dir, "a/notes.txt"))
	if err != nil || fi.Size() != 5 || fi.Mode() != 0o644 {
		t.Fatalf("stat notes.txt = %v, %v", fi, err)
	}

	// Unlink is delete.
	if err := os.Remove(filepath.Join(dir, "a/notes.txt")); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Get(ctx, "a.notes=2Etxt"); err == nil {
		t.Fatal("key still there after unlink")
	}

	// Names that keys cannot hold directly.
	for name, key := range map[string]string{
		"two words": "two=20words",
		"café":      "caf=C3=A9",
		".hidden":   "=2Ehidden",
		"k=v":       "k=3Dv",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(name), 0o644); err != nil {
			t.Fatalf("write %q: %v", name, err)
		}
		eventually(t, "key "+key, keyIs(kv, key, name))
	}
	// Unmappable names fail with EINVAL.
	if err := os.WriteFile(filepath.Join(dir, "%25"), nil, 0o644); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("create %%25: %v, want EINVAL", err)
	}
	// Keys with a slash show it escaped.
	if _, err := kv.Put(ctx, "cfg.app/prod", []byte("x")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "cfg/app%2Fprod", fileIs(filepath.Join(dir, "cfg/app%2Fprod"), "x"))
}

// TestLeafAndPrefix: a key that is also a prefix is its directory's
// .cairn-value.
func TestLeafAndPrefix(t *testing.T) {
	kv, dir, _ := setup(t)
	ctx := ctxT(t)
	if _, err := kv.Put(ctx, "a.b", []byte("leaf")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a/b is a file", fileIs(filepath.Join(dir, "a/b"), "leaf"))
	if _, err := kv.Put(ctx, "a.b.c", []byte("child")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a/b becomes a directory", fileIs(filepath.Join(dir, "a/b/c"), "child"))
	eventually(t, "a/b/.cairn-value", fileIs(filepath.Join(dir, "a/b", valueName), "leaf"))
	if err := os.WriteFile(filepath.Join(dir, "a/b", valueName), []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a.b rewritten", keyIs(kv, "a.b", "new"))
	if err := os.Remove(filepath.Join(dir, "a/b/c")); err != nil {
		t.Fatal(err)
	}
	// The directory stays (as on a disk) with its value inside.
	if got, err := readString(filepath.Join(dir, "a/b", valueName)); err != nil || got != "new" {
		t.Fatalf("after removing a/b/c: %q, %v", got, err)
	}
	// A .cairn-value at the root has no key.
	if err := os.WriteFile(filepath.Join(dir, valueName), nil, 0o644); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("root .cairn-value: %v, want EINVAL", err)
	}
}

// TestEmptyDirectories: mkdir makes a directory of this mount only; it
// holds files like any other, and rmdir removes it when empty.
func TestEmptyDirectories(t *testing.T) {
	kv, dir, _ := setup(t)
	d := filepath.Join(dir, "x/y")
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
		t.Fatalf("stat %s: %v %v", d, fi, err)
	}
	if err := os.Mkdir(d, 0o755); !errors.Is(err, os.ErrExist) {
		t.Fatalf("mkdir again: %v", err)
	}
	if err := os.WriteFile(filepath.Join(d, "f"), []byte("1"), 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, "x.y.f", keyIs(kv, "x.y.f", "1"))
	if err := os.Remove(d); !errors.Is(err, syscall.ENOTEMPTY) {
		t.Fatalf("rmdir non-empty: %v", err)
	}
	if err := os.RemoveAll(filepath.Join(dir, "x")); err != nil {
		t.Fatal(err)
	}
	if err := absent(filepath.Join(dir, "x"))(); err != nil {
		t.Fatal(err)
	}
}

// TestWriteSemantics: truncate, append, O_EXCL and one revision per close.
func TestWriteSemantics(t *testing.T) {
	kv, dir, _ := setup(t)
	ctx := ctxT(t)
	p := filepath.Join(dir, "f")

	// Many writes, one revision.
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		if _, err := f.Write([]byte("0123456789")); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	hist, err := kv.History(ctx, "f")
	if err != nil || len(hist) != 1 || len(hist[0].Value()) != 1000 {
		t.Fatalf("history after one close: %d entries, %v", len(hist), err)
	}

	// Append.
	af, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := af.Write([]byte("END")); err != nil {
		t.Fatal(err)
	}
	if err := af.Close(); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(p)
	if len(got) != 1003 || !bytes.HasSuffix(got, []byte("END")) {
		t.Fatalf("after append: %d bytes", len(got))
	}

	// Truncate by path and by handle.
	if err := os.Truncate(p, 4); err != nil {
		t.Fatal(err)
	}
	eventually(t, "truncated", keyIs(kv, "f", "0123"))
	tf, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := tf.Truncate(2); err != nil {
		t.Fatal(err)
	}
	if err := tf.Close(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "ftruncated", keyIs(kv, "f", "01"))

	// O_TRUNC rewrite.
	if err := os.WriteFile(p, []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, "rewritten", keyIs(kv, "f", "new"))

	// O_EXCL.
	if _, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644); !errors.Is(err, os.ErrExist) {
		t.Fatalf("O_EXCL on existing: %v", err)
	}
	lock := filepath.Join(dir, "lock")
	lf, err := os.OpenFile(lock, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	// The key exists as soon as open returns, for every client.
	if _, err := kv.Get(ctx, "lock"); err != nil {
		t.Fatalf("O_EXCL file not created at open: %v", err)
	}
	_ = lf.Close()
}
