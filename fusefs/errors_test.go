package fusefs

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
)

// TestTooBig: a value over the bucket's max value size, or over the
// server's max payload, is EFBIG.
func TestTooBig(t *testing.T) {
	needFUSE(t)
	url := startCairn(t)
	newBucket(t, url, "small", jetstream.KeyValueConfig{MaxValueSize: 1024})
	_, dir := mountAt(t, url, "small", Options{})
	p := filepath.Join(dir, "f")
	err := os.WriteFile(p, bytes.Repeat([]byte("x"), 2000), 0o644)
	if !errors.Is(err, syscall.EFBIG) {
		t.Fatalf("2000 bytes into a 1 KiB bucket: %v, want EFBIG", err)
	}
	if err := os.WriteFile(p, bytes.Repeat([]byte("x"), 1000), 0o644); err != nil {
		t.Fatalf("1000 bytes: %v", err)
	}
	if err := os.Truncate(p, 4096); !errors.Is(err, syscall.EFBIG) {
		t.Fatalf("truncate past the limit: %v, want EFBIG", err)
	}

	// The server's max payload (1 MiB) bounds buckets without a limit.
	newBucket(t, url, "big")
	_, dir2 := mountAt(t, url, "big", Options{})
	err = os.WriteFile(filepath.Join(dir2, "f"), make([]byte, 2<<20), 0o644)
	if !errors.Is(err, syscall.EFBIG) {
		t.Fatalf("2 MiB: %v, want EFBIG", err)
	}
	if err := os.WriteFile(filepath.Join(dir2, "f"), make([]byte, 1<<20-4096), 0o644); err != nil {
		t.Fatalf("just under 1 MiB: %v", err)
	}
}

// restartableNATS is an embedded nats-server that can stop and come back
// on the same port with the same data.
type restartableNATS struct {
	t     *testing.T
	opts  natsserver.Options
	ns    *natsserver.Server
	url   string
	store string
}

func newRestartableNATS(t *testing.T) *restartableNATS {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	r := &restartableNATS{t: t, store: t.TempDir()}
	r.opts = natsserver.Options{Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: r.store, NoLog: true, NoSigs: true}
	r.url = "nats://127.0.0.1:" + strconv.Itoa(port)
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *restartableNATS) start() {
	opts := r.opts
	ns, err := natsserver.NewServer(&opts)
	if err != nil {
		r.t.Fatalf("starting nats-server: %v", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		r.t.Fatal("nats-server not ready")
	}
	r.ns = ns
}

func (r *restartableNATS) stop() {
	if r.ns != nil {
		r.ns.Shutdown()
		r.ns.WaitForShutdown()
		r.ns = nil
	}
}

// bounded runs op and fails the test if it does not return within limit:
// a hung system call would hang the test otherwise.
func bounded(t *testing.T, what string, limit time.Duration, op func() error) error {
	t.Helper()
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- op() }()
	select {
	case err := <-done:
		t.Logf("%s: %v after %s", what, err, time.Since(start).Round(time.Millisecond))
		return err
	case <-time.After(limit):
		t.Fatalf("%s: still running after %s", what, limit)
		return nil
	}
}

// TestServerUnreachable: with the server gone, operations that need it
// fail with EIO within a bounded time (no hung shell), listings still
// answer, and the mount recovers when the server is back.
func TestServerUnreachable(t *testing.T) {
	needFUSE(t)
	srv := newRestartableNATS(t)
	kv := newBucket(t, srv.url, "files")
	if _, err := kv.Put(ctxT(t), "kept", []byte("kept")); err != nil {
		t.Fatal(err)
	}
	_, dir := mountAt(t, srv.url, "files", Options{Timeout: time.Second})
	eventually(t, "kept", fileIs(filepath.Join(dir, "kept"), "kept"))

	srv.stop()
	const limit = 5 * time.Second // Timeout plus slack
	// Until the client notices the connection is gone, a read may still
	// be answered from what the mount holds; then it is EIO.
	eventually(t, "read fails with EIO", func() error {
		err := bounded(t, "read", limit, func() error { _, err := os.ReadFile(filepath.Join(dir, "kept")); return err })
		if !errors.Is(err, syscall.EIO) {
			return fmt.Errorf("read while down: %v, want EIO", err)
		}
		return nil
	})
	if err := bounded(t, "write", limit, func() error { return os.WriteFile(filepath.Join(dir, "new"), []byte("x"), 0o644) }); !errors.Is(err, syscall.EIO) {
		t.Fatalf("write while down: %v, want EIO", err)
	}
	if err := bounded(t, "unlink", limit, func() error { return os.Remove(filepath.Join(dir, "kept")) }); !errors.Is(err, syscall.EIO) {
		t.Fatalf("unlink while down: %v, want EIO", err)
	}
	_ = bounded(t, "ls", limit, func() error { _, err := os.ReadDir(dir); return err })

	srv.start()
	eventually(t, "writes work again", func() error {
		return os.WriteFile(filepath.Join(dir, "after"), []byte("back"), 0o644)
	})
	kv2, err := client(t, srv.url).KeyValue(ctxT(t), "files")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "key written after the outage", keyIs(kv2, "after", "back"))
	// A change made elsewhere is seen again.
	if _, err := kv2.Put(ctxT(t), "later", []byte("seen")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "later", fileIs(filepath.Join(dir, "later"), "seen"))
}

// TestBucketDeleted: a deleted bucket makes every operation fail with EIO
// (and a log line), and the mount still unmounts cleanly.
func TestBucketDeleted(t *testing.T) {
	needFUSE(t)
	url := startCairn(t)
	kv := newBucket(t, url, "doomed")
	if _, err := kv.Put(ctxT(t), "a", []byte("1")); err != nil {
		t.Fatal(err)
	}
	m, dir := mountAt(t, url, "doomed", Options{Timeout: 2 * time.Second})
	eventually(t, "a", fileIs(filepath.Join(dir, "a"), "1"))
	if err := client(t, url).DeleteKeyValue(ctxT(t), "doomed"); err != nil {
		t.Fatal(err)
	}
	// The first operation that reaches the server finds out.
	eventually(t, "writes fail with EIO", func() error {
		err := bounded(t, "write", 10*time.Second, func() error {
			return os.WriteFile(filepath.Join(dir, "b"), []byte("2"), 0o644)
		})
		if !errors.Is(err, syscall.EIO) {
			return fmt.Errorf("write: %v, want EIO", err)
		}
		return nil
	})
	if _, err := os.ReadDir(dir); !errors.Is(err, syscall.EIO) {
		t.Fatalf("ls after the bucket was deleted: %v, want EIO", err)
	}
	if err := m.Unmount(); err != nil {
		t.Fatalf("unmount: %v", err)
	}
}

// TestNotSupported: symlinks, hard links and special files fail with
// EPERM; chmod and chown are accepted and change nothing; mtime is the
// revision's time and size the value's length.
func TestNotSupported(t *testing.T) {
	kv, dir, _ := setup(t)
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, []byte("12345"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("f", filepath.Join(dir, "l")); !errors.Is(err, syscall.EPERM) {
		t.Fatalf("symlink: %v, want EPERM", err)
	}
	if err := os.Link(p, filepath.Join(dir, "h")); !errors.Is(err, syscall.EPERM) {
		t.Fatalf("link: %v, want EPERM", err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644); !errors.Is(err, syscall.EPERM) {
		t.Fatalf("mkfifo: %v, want EPERM", err)
	}
	if err := os.Chmod(p, 0o755); err != nil {
		t.Fatalf("chmod: %v", err)
	}
	if err := os.Chown(p, 1234, 1234); err != nil {
		t.Fatalf("chown: %v", err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(ctxT(t), "f")
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != 0o644 || fi.Size() != 5 {
		t.Fatalf("stat after chmod: mode %v size %d", fi.Mode(), fi.Size())
	}
	if d := fi.ModTime().Sub(e.Created()); d > 100*time.Millisecond || d < -100*time.Millisecond {
		t.Fatalf("mtime %v, revision time %v", fi.ModTime(), e.Created())
	}
	// A time set with utimes holds in this mount until the key changes.
	if err := os.Chtimes(p, time.Unix(1, 0), time.Unix(1, 0)); err != nil {
		t.Fatalf("utimes: %v", err)
	}
	if fi, err := os.Stat(p); err != nil || !fi.ModTime().Equal(time.Unix(1, 0)) {
		t.Fatalf("mtime after utimes: %v, %v", fi.ModTime(), err)
	}
	if _, err := kv.Put(ctxT(t), "f", []byte("changed")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "new revision's time", func() error {
		fi, err := os.Stat(p)
		if err != nil || fi.ModTime().Before(time.Unix(2, 0)) {
			return fmt.Errorf("mtime %v, %v", fi.ModTime(), err)
		}
		return nil
	})
}
