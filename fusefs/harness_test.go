package fusefs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnkv/cairn/node"
	"github.com/cairnkv/cairn/node/frontdoor"
	"github.com/cairnkv/cairn/node/natsref"
	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The tests mount real filesystems: they need /dev/fuse and permission to
// mount (root, or fusermount3). CI installs fuse3 and runs as root.

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// waitFor bounds every wait on a condition; generous for slow CI machines
// under the race detector. Conditions are polled, never slept for.
const waitFor = 20 * time.Second

func needFUSE(t testing.TB) {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skip("no /dev/fuse: FUSE mount tests need it (and root or fusermount3)")
	}
	if os.Getuid() != 0 {
		if _, err := exec.LookPath("fusermount3"); err != nil {
			t.Skip("not root and no fusermount3: FUSE mount tests cannot mount")
		}
	}
}

// startCairn runs a one-node cairn with its NATS front door on a random
// loopback port and returns the client URL.
func startCairn(t testing.TB) string {
	t.Helper()
	cfg := node.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Name = "fusefs-test"
	cfg.ClientAddr = "127.0.0.1:0"
	cfg.Logger = quiet
	n, err := node.New(cfg)
	if err != nil {
		t.Fatalf("starting node: %v", err)
	}
	fd, err := frontdoor.Start(context.Background(), n, quiet)
	if err != nil {
		_ = n.Close()
		t.Fatalf("starting front door: %v", err)
	}
	t.Cleanup(func() {
		_ = fd.Close()
		_ = n.Close()
	})
	return fd.ClientURL()
}

// startCairnCluster runs size cairn nodes that form one cluster over
// real sockets on 127.0.9.x, each with its NATS front door, and returns
// their client URLs.
func startCairnCluster(t testing.TB, size int) []string {
	t.Helper()
	type started struct {
		i   int
		n   *node.Node
		err error
	}
	ch := make(chan started, size)
	for i := 1; i <= size; i++ {
		cfg := node.DefaultConfig()
		cfg.Name = fmt.Sprintf("n%d", i)
		cfg.DataDir = t.TempDir()
		cfg.ClientAddr = fmt.Sprintf("127.0.9.%d:0", i)
		cfg.PeerAddr = fmt.Sprintf("127.0.9.%d:16222", i)
		cfg.GossipAddr = fmt.Sprintf("127.0.9.%d:17946", i)
		cfg.Join = []string{"127.0.9.1:17946"}
		cfg.Expect = size
		cfg.TickInterval = 20 * time.Millisecond
		cfg.ElectionTimeout = 200 * time.Millisecond
		cfg.Logger = quiet
		go func() {
			n, err := node.New(cfg)
			ch <- started{i, n, err}
		}()
	}
	var nodes []*node.Node
	var doors []*frontdoor.FrontDoors
	t.Cleanup(func() {
		for _, fd := range doors {
			_ = fd.Close()
		}
		for _, n := range nodes {
			_ = n.Close()
		}
	})
	urls := make([]string, size)
	for range size {
		s := <-ch
		if s.err != nil {
			t.Fatalf("node %d: %v", s.i, s.err)
		}
		nodes = append(nodes, s.n)
		fd, err := frontdoor.Start(context.Background(), s.n, quiet)
		if err != nil {
			t.Fatal(err)
		}
		doors = append(doors, fd)
		urls[s.i-1] = fd.ClientURL()
	}
	return urls
}

// startNATS runs an embedded nats-server with JetStream and returns its
// client URL and a function that stops it.
func startNATS(t testing.TB) (string, func()) {
	t.Helper()
	ns := natsref.Start(t, natsserver.Options{JetStream: true, StoreDir: t.TempDir()})
	return ns.ClientURL(), func() { ns.Shutdown(); ns.WaitForShutdown() }
}

// client is a plain nats.go client of a bucket, the "change made
// elsewhere" of the tests.
func client(t testing.TB, url string) jetstream.JetStream {
	t.Helper()
	_, js := natsref.Connect(t, url, nats.Name("fusefs-test"))
	return js
}

// newBucket creates a bucket at url.
func newBucket(t testing.TB, url, name string, cfg ...jetstream.KeyValueConfig) jetstream.KeyValue {
	t.Helper()
	c := jetstream.KeyValueConfig{Bucket: name, History: 5}
	if len(cfg) > 0 {
		c = cfg[0]
		c.Bucket = name
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := client(t, url).CreateKeyValue(ctx, c)
	if err != nil {
		t.Fatalf("creating bucket %s: %v", name, err)
	}
	return kv
}

// testLogger sends the mount's warnings to the test log while the test
// runs (and nowhere after, as go-fuse may log late).
type testLogger struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (l *testLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.done {
		l.t.Logf("%s", strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// mountAt mounts bucket from url on a fresh directory and unmounts it when
// the test ends (lazily if something still holds it, so a failed test
// never leaves a mount behind).
func mountAt(t testing.TB, url, bucket string, opts Options) (*Mount, string) {
	t.Helper()
	needFUSE(t)
	dir := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	tl := &testLogger{t: t}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(tl, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := MountNATS(ctx, dir, Config{Servers: url, Bucket: bucket, Options: opts})
	if err != nil {
		t.Fatalf("mount %s on %s: %v", bucket, dir, err)
	}
	t.Cleanup(func() {
		if err := m.Unmount(); err != nil {
			t.Logf("unmount: %v; detaching lazily", err)
			if err := m.UnmountLazy(); err != nil {
				t.Errorf("lazy unmount: %v", err)
			}
		}
		tl.mu.Lock()
		tl.done = true
		tl.mu.Unlock()
	})
	return m, dir
}

// setup starts cairn, creates a bucket and mounts it.
func setup(t testing.TB) (kv jetstream.KeyValue, dir string, url string) {
	t.Helper()
	needFUSE(t)
	url = startCairn(t)
	kv = newBucket(t, url, "files")
	_, dir = mountAt(t, url, "files", Options{})
	return kv, dir, url
}

// eventually polls cond until it returns nil or waitFor passes.
func eventually(t testing.TB, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	delay := time.Millisecond
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, waitFor, err)
		}
		time.Sleep(delay)
		delay = min(2*delay, 50*time.Millisecond)
	}
}

// within polls cond until it returns nil and reports how long that took;
// it fails the test if it takes longer than limit.
func within(t testing.TB, what string, limit time.Duration, cond func() error) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		err := cond()
		if err == nil {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %s: %v", what, limit, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func readString(path string) (string, error) {
	b, err := os.ReadFile(path)
	return string(b), err
}

// fileIs returns a condition: path holds want.
func fileIs(path, want string) func() error {
	return func() error {
		got, err := readString(path)
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("%s holds %q, want %q", path, got, want)
		}
		return nil
	}
}

// absent returns a condition: path does not exist.
func absent(path string) func() error {
	return func() error {
		if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s: %v, want not exist", path, err)
		}
		return nil
	}
}

// keyIs returns a condition: key holds want in the bucket.
func keyIs(kv jetstream.KeyValue, key, want string) func() error {
	return func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		e, err := kv.Get(ctx, key)
		if err != nil {
			return fmt.Errorf("get %s: %w", key, err)
		}
		if string(e.Value()) != want {
			return fmt.Errorf("key %s holds %q, want %q", key, e.Value(), want)
		}
		return nil
	}
}

// run runs a command (outside the mount as working directory, see the
// go-fuse notes on fork/exec from the serving process) and returns its
// combined output.
func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), "LC_ALL=C", "GIT_CONFIG_NOSYSTEM=1", "HOME="+os.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}
