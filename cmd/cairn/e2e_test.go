package main

// End-to-end tests: they build the cairn binary once and run it as a child
// process, the way scripts and users do.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// e2eTimeout bounds every wait on a child process; generous because CI
// machines are slow and the race detector may be on in the parent.
const e2eTimeout = 2 * time.Minute

var (
	binDir    string
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cairn-e2e-bin-")
	if err != nil {
		panic(err)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cairnBinary builds ./cmd/cairn once per test run as `make build` does:
// static (CGO_ENABLED=0, so the same binary serves the FROM scratch image
// of the compose test), with a version stamped through -ldflags -X.
func cairnBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test builds the binary; skipped in -short mode")
	}
	buildOnce.Do(func() {
		gobin, err := exec.LookPath("go")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(binDir, "cairn")
		cmd := exec.Command(gobin, "build", "-trimpath", "-o", binPath,
			"-ldflags", "-X main.version=e2e-test -X main.commit=e2e-commit", ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = errors.New(err.Error() + "\n" + string(out))
		}
	})
	if buildErr != nil {
		t.Fatalf("building cairn: %v", buildErr)
	}
	return binPath
}

// childEnv is the test's environment without CAIRN_* variables, plus extra.
func childEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, envPrefix+"_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// logLines collects a child's stderr line by line and wakes waiters on
// every write.
type logLines struct {
	mu      sync.Mutex
	partial []byte
	lines   []string
	changed chan struct{}
}

func newLogLines() *logLines { return &logLines{changed: make(chan struct{})} }

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.lines = append(l.lines, string(l.partial[:i]))
		l.partial = l.partial[i+1:]
	}
	close(l.changed)
	l.changed = make(chan struct{})
	return len(p), nil
}

func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n") + string(l.partial)
}

// snapshot returns the complete lines so far and a channel closed on the
// next write.
func (l *logLines) snapshot() ([]string, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...), l.changed
}

// child is a running cairn process.
type child struct {
	cmd    *exec.Cmd
	stderr *logLines
	stdout bytes.Buffer
	exited chan struct{} // closed when Wait returned
	err    error         // Wait's result, valid after exited
}

func startCairn(t *testing.T, env []string, args ...string) *child {
	t.Helper()
	c := &child{stderr: newLogLines(), exited: make(chan struct{})}
	c.cmd = exec.Command(cairnBinary(t), args...)
	c.cmd.Env = env
	c.cmd.Stdout = &c.stdout
	c.cmd.Stderr = c.stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("starting cairn %v: %v", args, err)
	}
	go func() {
		c.err = c.cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-c.exited:
		default:
			_ = c.cmd.Process.Kill()
			<-c.exited
		}
	})
	return c
}

// waitExit waits for the process to end and returns its exit status.
func (c *child) waitExit(t *testing.T) int {
	t.Helper()
	select {
	case <-c.exited:
	case <-time.After(e2eTimeout):
		t.Fatalf("cairn did not exit within %s; stderr:\n%s", e2eTimeout, c.stderr)
	}
	var ee *exec.ExitError
	switch {
	case c.err == nil:
		return 0
	case errors.As(c.err, &ee) && ee.Exited():
		return ee.ExitCode()
	default:
		t.Fatalf("cairn ended abnormally: %v; stderr:\n%s", c.err, c.stderr)
		return -1
	}
}

// waitLog waits for a JSON log record with the given message and returns
// it. It fails if the process exits first or the deadline passes.
func (c *child) waitLog(t *testing.T, msg string) map[string]any {
	t.Helper()
	deadline := time.After(e2eTimeout)
	seen := 0
	for {
		lines, changed := c.stderr.snapshot()
		for ; seen < len(lines); seen++ {
			var rec map[string]any
			if json.Unmarshal([]byte(lines[seen]), &rec) == nil && rec["msg"] == msg {
				return rec
			}
		}
		select {
		case <-changed:
		case <-c.exited:
			if lines, _ := c.stderr.snapshot(); len(lines) > seen {
				continue // read what was written before the exit
			}
			t.Fatalf("cairn exited (%v) before logging %q; stderr:\n%s", c.err, msg, c.stderr)
		case <-deadline:
			t.Fatalf("no %q log within %s; stderr:\n%s", msg, e2eTimeout, c.stderr)
		}
	}
}

func (c *child) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := c.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("sending %v: %v", sig, err)
	}
}

// nodeArgs runs a node on dir with JSON logs and loopback port-0 addresses,
// so tests never collide on ports once listeners exist.
func nodeArgs(dir string) []string {
	return []string{"node", "--data-dir", dir, "--name", "e2e", "--log-format", "json",
		"--client-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0",
		"--peer-addr", "127.0.0.1:0", "--gossip-addr", "127.0.0.1:0"}
}

func TestE2ENodeStopsCleanlyAndRestarts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")

	first := startCairn(t, childEnv(), nodeArgs(dir)...)
	rec := first.waitLog(t, msgStarted)
	id, _ := rec["node-id"].(string)
	if id == "" || rec["data-dir"] != dir || rec["name"] != "e2e" {
		t.Fatalf("startup line lacks node id, name or data dir: %v", rec)
	}
	first.signal(t, syscall.SIGTERM)
	if code := first.waitExit(t); code != 0 {
		t.Fatalf("exit status after SIGTERM = %d, want 0; stderr:\n%s", code, first.stderr)
	}
	first.waitLog(t, msgStopped)

	second := startCairn(t, childEnv(), nodeArgs(dir)...)
	rec = second.waitLog(t, msgStarted)
	if rec["node-id"] != id {
		t.Fatalf("restarted node id = %v, want %s (same data directory)", rec["node-id"], id)
	}
	second.signal(t, syscall.SIGINT)
	if code := second.waitExit(t); code != 0 {
		t.Fatalf("exit status after SIGINT = %d, want 0; stderr:\n%s", code, second.stderr)
	}

	// SIGUSR2, nats-server's lame-duck signal, stops it the same way.
	third := startCairn(t, childEnv(), nodeArgs(dir)...)
	third.waitLog(t, msgStarted)
	third.signal(t, syscall.SIGUSR2)
	if code := third.waitExit(t); code != 0 {
		t.Fatalf("exit status after SIGUSR2 = %d, want 0; stderr:\n%s", code, third.stderr)
	}
	third.waitLog(t, "lame duck: no new clients; connected clients told to move")
	third.waitLog(t, msgStopped)
}

func TestE2ENodeRefusesForeignDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "not-cairn")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	foreign := filepath.Join(dir, "precious.txt")
	if err := os.WriteFile(foreign, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := startCairn(t, childEnv(), nodeArgs(dir)...)
	if code := c.waitExit(t); code != 1 {
		t.Fatalf("exit status = %d, want 1; stderr:\n%s", code, c.stderr)
	}
	if !strings.Contains(c.stderr.String(), dir) {
		t.Fatalf("error does not name the path %s:\n%s", dir, c.stderr)
	}
	if b, err := os.ReadFile(foreign); err != nil || string(b) != "keep me" {
		t.Fatalf("foreign file changed: %q, %v", b, err)
	}
	if names, _ := os.ReadDir(dir); len(names) != 1 {
		t.Fatalf("refused directory was written to: %v", names)
	}
}

func TestE2EPrintConfig(t *testing.T) {
	tmp := t.TempDir()
	file := filepath.Join(tmp, "cairn.yaml")
	yml := "data-dir: /from/file\nexpect: 3\nlog-level: debug\nmax-payload: 2048\n"
	if err := os.WriteFile(file, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	c := startCairn(t, childEnv("CAIRN_EXPECT=5", "CAIRN_LOG_LEVEL=warn"),
		"node", "--config", file, "--print-config", "--log-level", "error", "--join", "a:1,b:2")
	if code := c.waitExit(t); code != 0 {
		t.Fatalf("exit status = %d, want 0; stderr:\n%s", code, c.stderr)
	}
	var got map[string]any
	if err := yaml.Unmarshal(c.stdout.Bytes(), &got); err != nil {
		t.Fatalf("--print-config output is not YAML: %v\n%s", err, c.stdout.String())
	}
	want := map[string]any{
		"data-dir":         "/from/file", // file
		"max-payload":      2048,         // file
		"expect":           5,            // env over file
		"log-level":        "error",      // flag over env over file
		"join":             []any{"a:1", "b:2"},
		"election-timeout": "1s", // default
		"log-format":       "text",
	}
	for k, v := range want {
		if gv, ok := got[k]; !ok || !equalYAML(gv, v) {
			t.Errorf("%s = %#v, want %#v", k, got[k], v)
		}
	}
	for _, s := range settingsOf(defaultConfig()) {
		if _, ok := got[s.key]; !ok {
			t.Errorf("key %s missing from --print-config output", s.key)
		}
	}
}

func equalYAML(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

func TestE2EVersion(t *testing.T) {
	c := startCairn(t, childEnv(), "version", "--json")
	if code := c.waitExit(t); code != 0 {
		t.Fatalf("exit status = %d; stderr:\n%s", code, c.stderr)
	}
	var v versionInfo
	if err := json.Unmarshal(c.stdout.Bytes(), &v); err != nil {
		t.Fatalf("version --json: %v\n%s", err, c.stdout.String())
	}
	want := versionInfo{Version: "e2e-test", Commit: "e2e-commit", GoVersion: runtime.Version(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if v != want {
		t.Fatalf("version = %+v, want %+v", v, want)
	}
}

// TestVersionInProcess checks both output forms without building.
func TestVersionInProcess(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"version", "--json"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var v versionInfo
	if err := json.Unmarshal(out.Bytes(), &v); err != nil {
		t.Fatal(err)
	}
	if v.Version == "" || v.Commit == "" || v.GoVersion != runtime.Version() {
		t.Fatalf("version = %+v", v)
	}
	out.Reset()
	if code := run([]string{"version"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), v.Version) || !strings.Contains(out.String(), runtime.Version()) {
		t.Fatalf("human output lacks version or Go version:\n%s", out.String())
	}
}

// TestNodeInProcess runs `cairn node` through run() with a context that
// ends, covering the start and clean shutdown path under the race detector.
// inProcessNode is serveNode running in the test process, so the race
// detector sees the command's own code.
type inProcessNode struct {
	logs   *child
	cancel context.CancelFunc
	done   chan error
}

func runNodeInProcess(t *testing.T) *inProcessNode {
	t.Helper()
	clearCairnEnv(t)
	cmd, rest, err := newRootCmd().Find(nodeArgs(filepath.Join(t.TempDir(), "data")))
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.ParseFlags(rest); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(cmd)
	if err != nil {
		t.Fatal(err)
	}
	logs := newLogLines()
	lg, err := newLogger(logs, cfg.Log)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Node.Logger = lg
	ctx, cancel := context.WithCancel(context.Background())
	n := &inProcessNode{logs: &child{stderr: logs, exited: make(chan struct{})}, cancel: cancel, done: make(chan error, 1)}
	go func() { n.done <- serveNode(ctx, cfg, lg) }()
	return n
}

// stop cancels the node and waits for serveNode to return; fatal chooses
// whether a problem ends the test at once (not allowed in Cleanup).
func (n *inProcessNode) stop(t *testing.T, fatal bool) {
	t.Helper()
	fail := t.Errorf
	if fatal {
		fail = t.Fatalf
	}
	n.cancel()
	select {
	case err := <-n.done:
		if err != nil {
			fail("serveNode: %v", err)
		}
	case <-time.After(e2eTimeout):
		fail("serveNode did not return after cancel")
	}
}

func TestNodeInProcess(t *testing.T) {
	n := runNodeInProcess(t)
	n.logs.waitLog(t, msgStarted)
	n.stop(t, true)
	n.logs.waitLog(t, msgStopped)
}

func TestUnknownCommandAndFlagFail(t *testing.T) {
	for _, args := range [][]string{{"nosuch"}, {"node", "--nosuch"}, {"version", "extra"}} {
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code != 1 {
			t.Errorf("%v: exit %d, want 1", args, code)
		}
		if !strings.Contains(errOut.String(), "cairn:") {
			t.Errorf("%v: no error printed: %q", args, errOut.String())
		}
	}
}
