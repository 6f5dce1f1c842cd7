package main

// End-to-end tests of `cairn mount`, `cairn unmount` and `cairn node
// --mount`: the binary serves the filesystem in a child process, the test
// uses it like any other program.

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/cairnkv/cairn/fusefs"
)

func needMount(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skip("no /dev/fuse: mount tests need it (and root or fusermount3)")
	}
	if os.Getuid() != 0 {
		if _, err := exec.LookPath("fusermount3"); err != nil {
			t.Skip("not root and no fusermount3: cannot mount")
		}
	}
}

// mountDir returns a fresh mount point that is unmounted (lazily) when the
// test ends, whatever happened.
func mountDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if ok, _ := fusefs.IsMounted(dir); ok {
			_ = fusefs.Unmount(dir, true)
		}
	})
	return dir
}

func mounted(t *testing.T, dir string) bool {
	t.Helper()
	ok, err := fusefs.IsMounted(dir)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestE2EMountUnmount(t *testing.T) {
	needMount(t)
	url := startNodeURL(t)
	kv := kvCLI{t: t, url: url}
	if r := kv.run("", "add", "files"); r.code != 0 {
		t.Fatal(r)
	}
	dir := mountDir(t)
	mountArgs := []string{"mount", "files", dir, "-s", url, "--log-format", "json"}

	// Mount, write a file, read its key; cairn unmount ends the mount.
	m := startCairn(t, childEnv(), mountArgs...)
	m.waitLog(t, "mounted")
	if err := os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("hi"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := kv.run("", "get", "files", "hello=2Etxt", "--raw"); r.code != 0 || r.stdout != "hi" {
		t.Fatalf("key of hello.txt: %v", r)
	}
	if r := cli(t, "", nil, "unmount", t.TempDir()); r.code != 1 || !strings.Contains(r.stderr, "not a cairn mount") {
		t.Fatalf("unmount of a plain directory: %v", r)
	}
	if r := cli(t, "", nil, "unmount", dir); r.code != 0 {
		t.Fatalf("unmount: %v", r)
	}
	if code := m.waitExit(t); code != 0 {
		t.Fatalf("cairn mount exited %d after cairn unmount; stderr:\n%s", code, m.stderr)
	}
	if mounted(t, dir) {
		t.Fatal("still mounted after cairn unmount")
	}

	// SIGTERM unmounts cleanly; --read-only refuses writes.
	m = startCairn(t, childEnv(), append(mountArgs, "--read-only")...)
	m.waitLog(t, "mounted")
	if got, err := os.ReadFile(filepath.Join(dir, "hello.txt")); err != nil || string(got) != "hi" {
		t.Fatalf("read: %q, %v", got, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "x"), nil, 0o644); !errors.Is(err, syscall.EROFS) {
		t.Fatalf("write on --read-only: %v, want EROFS", err)
	}
	m.signal(t, syscall.SIGTERM)
	if code := m.waitExit(t); code != 0 {
		t.Fatalf("exit %d after SIGTERM; stderr:\n%s", code, m.stderr)
	}
	m.waitLog(t, "unmounted")
	if mounted(t, dir) {
		t.Fatal("still mounted after SIGTERM")
	}

	// SIGINT while a file is held open: detached lazily, never left
	// behind as a dead mount.
	m = startCairn(t, childEnv(), mountArgs...)
	m.waitLog(t, "mounted")
	f, err := os.Open(filepath.Join(dir, "hello.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m.signal(t, syscall.SIGINT)
	if code := m.waitExit(t); code != 0 {
		t.Fatalf("exit %d after SIGINT while busy; stderr:\n%s", code, m.stderr)
	}
	if mounted(t, dir) {
		t.Fatal("still mounted after SIGINT while busy")
	}

	// A bucket that does not exist is a clear error.
	r := cli(t, "", nil, "mount", "nosuch", dir, "-s", url)
	if r.code != 1 || !strings.Contains(r.stderr, "bucket nosuch not found") {
		t.Fatalf("mount of a missing bucket: %v", r)
	}
}

func TestE2ENodeMount(t *testing.T) {
	needMount(t)
	data := filepath.Join(t.TempDir(), "data")
	n := startCairn(t, childEnv(), nodeArgs(data)...)
	url, _ := n.waitLog(t, msgStarted)["client-url"].(string)
	kv := kvCLI{t: t, url: url}
	if r := kv.run("", "add", "files"); r.code != 0 {
		t.Fatal(r)
	}
	if r := kv.run("", "put", "files", "a.b", "hello"); r.code != 0 {
		t.Fatal(r)
	}
	n.signal(t, syscall.SIGTERM)
	if code := n.waitExit(t); code != 0 {
		t.Fatalf("node exit %d", code)
	}

	dir := mountDir(t)
	n = startCairn(t, childEnv(), append(nodeArgs(data), "--mount", "files:"+dir)...)
	url, _ = n.waitLog(t, msgStarted)["client-url"].(string)
	n.waitLog(t, "mounted")
	if got, err := os.ReadFile(filepath.Join(dir, "a/b")); err != nil || string(got) != "hello" {
		t.Fatalf("a/b through the node's mount: %q, %v", got, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a/c"), []byte("from the mount"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := (kvCLI{t: t, url: url}).run("", "get", "files", "a.c", "--raw"); r.code != 0 || r.stdout != "from the mount" {
		t.Fatalf("a.c: %v", r)
	}
	n.signal(t, syscall.SIGTERM)
	if code := n.waitExit(t); code != 0 {
		t.Fatalf("node exit %d after SIGTERM; stderr:\n%s", code, n.stderr)
	}
	if mounted(t, dir) {
		t.Fatal("the node's mount is still there after it stopped")
	}

	// A mount that cannot be made stops the node from starting.
	n = startCairn(t, childEnv(), append(nodeArgs(data), "--mount", "nosuch:"+dir)...)
	if code := n.waitExit(t); code != 1 || !strings.Contains(n.stderr.String(), "nosuch") {
		t.Fatalf("node with a bad --mount: exit %d; stderr:\n%s", code, n.stderr)
	}
}
