package main

// End-to-end tests of `cairn local`: the binary starts a cluster of child
// `cairn node` processes, on loopback addresses 127.0.5.x that no other
// test package uses.

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// localRun is a running `cairn local`.
type localRun struct {
	t      *testing.T
	cmd    *exec.Cmd
	out    *logLines // stdout: the banner
	errs   *logLines // stderr: notices
	exited chan struct{}
	err    error // Wait's result, valid after exited
	nodes  []localNodeInfo
	dir    string // --data-dir
	tls    bool   // started with --tls
}

// localNodeInfo is one row of the banner's table.
type localNodeInfo struct {
	name, client, http string
	pid                int
}

// startLocal runs `cairn local` with three nodes on host, ports from
// base, and waits for its banner.
func startLocal(t *testing.T, host string, base int, extra ...string) *localRun {
	t.Helper()
	l := &localRun{t: t, out: newLogLines(), errs: newLogLines(), exited: make(chan struct{}), tls: slices.Contains(extra, "--tls")}
	l.dir = filepath.Join(t.TempDir(), "local")
	l.cmd = exec.Command(cairnBinary(t), append([]string{"local", "--nodes", "3", "--data-dir", l.dir,
		"--host", host, "--base-port", strconv.Itoa(base)}, extra...)...)
	l.cmd.Env = childEnv()
	l.cmd.Stdout, l.cmd.Stderr = l.out, l.errs
	if err := l.cmd.Start(); err != nil {
		t.Fatalf("starting cairn local: %v", err)
	}
	go func() {
		l.err = l.cmd.Wait()
		close(l.exited)
	}()
	// Whatever happens, nothing is left running: cairn local, then any
	// node it started (they also get SIGTERM when it dies).
	t.Cleanup(func() {
		select {
		case <-l.exited:
		default:
			_ = l.cmd.Process.Kill()
			<-l.exited
		}
		for _, n := range l.nodes {
			_ = syscall.Kill(n.pid, syscall.SIGKILL)
		}
	})
	l.waitOut("Ctrl-C stops every node.")
	l.parseBanner()
	return l
}

// waitFor waits until one of the lines of ll satisfies ok.
func (l *localRun) waitFor(ll *logLines, what string, ok func(string) bool) string {
	l.t.Helper()
	deadline := time.After(e2eTimeout)
	for {
		lines, changed := ll.snapshot()
		for _, line := range lines {
			if ok(line) {
				return line
			}
		}
		select {
		case <-changed:
		case <-l.exited:
			if lines2, _ := ll.snapshot(); len(lines2) > len(lines) {
				continue
			}
			l.t.Fatalf("cairn local exited (%v) before %s\nstdout:\n%s\nstderr:\n%s", l.err, what, l.out, l.errs)
		case <-deadline:
			l.t.Fatalf("no %s within %s\nstdout:\n%s\nstderr:\n%s", what, e2eTimeout, l.out, l.errs)
		}
	}
}

func (l *localRun) waitOut(s string) {
	l.t.Helper()
	l.waitFor(l.out, fmt.Sprintf("%q on stdout", s), func(line string) bool { return strings.Contains(line, s) })
}

func (l *localRun) parseBanner() {
	l.t.Helper()
	lines, _ := l.out.snapshot()
	for _, line := range lines {
		f := strings.Fields(line)
		if len(f) != 5 || !strings.HasPrefix(f[0], "node") {
			continue
		}
		pid, err := strconv.Atoi(f[1])
		if err != nil {
			continue
		}
		l.nodes = append(l.nodes, localNodeInfo{name: f[0], pid: pid, client: f[2], http: f[3]})
	}
	if len(l.nodes) != 3 {
		l.t.Fatalf("banner lists %d nodes, want 3:\n%s", len(l.nodes), l.out)
	}
	client, http := "nats://", "http://"
	if l.tls {
		client, http = "tls://", "https://"
	}
	for i, n := range l.nodes {
		if n.name != fmt.Sprintf("node%d", i+1) || !strings.HasPrefix(n.client, client) || !strings.HasPrefix(n.http, http) {
			l.t.Fatalf("banner row %+v", n)
		}
	}
}

// interrupt sends SIGINT and returns the exit status.
func (l *localRun) interrupt() int {
	l.t.Helper()
	if err := l.cmd.Process.Signal(syscall.SIGINT); err != nil {
		l.t.Fatal(err)
	}
	select {
	case <-l.exited:
	case <-time.After(e2eTimeout):
		l.t.Fatalf("cairn local did not exit after SIGINT\nstdout:\n%s\nstderr:\n%s", l.out, l.errs)
	}
	var ee *exec.ExitError
	switch {
	case l.err == nil:
		return 0
	case errors.As(l.err, &ee) && ee.Exited():
		return ee.ExitCode()
	}
	l.t.Fatalf("cairn local ended abnormally: %v", l.err)
	return -1
}

// processGone reports whether pid no longer exists.
func processGone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

// clusterStatus runs `cairn cluster status --json` against httpURL.
func clusterStatus(t *testing.T, httpURL string) clusterView {
	t.Helper()
	r := cli(t, "", nil, "cluster", "status", "--json", "--http", httpURL)
	if r.code != 0 {
		t.Fatalf("%v", r)
	}
	var v clusterView
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatalf("cluster status --json: %v\n%s", err, r.stdout)
	}
	return v
}

func (v clusterView) member(name string) clusterNode {
	for _, m := range v.Members {
		if m.Name == name {
			return m
		}
	}
	return clusterNode{}
}

// waitStatus polls cluster status until ok holds.
func waitStatus(t *testing.T, httpURL, what string, ok func(clusterView) bool) clusterView {
	t.Helper()
	deadline := time.Now().Add(e2eTimeout)
	for {
		v := clusterStatus(t, httpURL)
		if ok(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster status never showed %s; last: %+v", what, v)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestE2ELocalCluster(t *testing.T) {
	l := startLocal(t, "127.0.5.1", 30100)
	n1, n3 := l.nodes[0], l.nodes[2]
	if !strings.Contains(l.out.String(), "Meta leader: node") {
		t.Fatalf("banner names no meta leader:\n%s", l.out)
	}

	// Data written through node 1 is read through node 3.
	kv := func(n localNodeInfo) kvCLI { return kvCLI{t: t, url: n.client} }
	kv(n1).ok("add", "tour", "--replicas", "3", "--history", "5")
	kv(n1).ok("put", "tour", "greeting", "hello")
	if got := kv(n3).ok("get", "tour", "greeting", "--raw"); got != "hello" {
		t.Fatalf("get through node 3: %q", got)
	}

	v := clusterStatus(t, n1.http)
	if len(v.Members) != 3 || v.MetaLeader == "" || v.name(v.MetaLeader) == v.MetaLeader {
		t.Fatalf("cluster status: %+v", v)
	}
	for _, n := range l.nodes {
		if m := v.member(n.name); m.State != "alive" || "http://"+m.HTTPAddr != n.http {
			t.Fatalf("member %s: %+v", n.name, m)
		}
	}

	// A node that crashes is reported; the others carry on.
	if err := syscall.Kill(n3.pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	l.waitFor(l.errs, "the crash reported", func(s string) bool {
		return strings.Contains(s, "node3 (pid "+strconv.Itoa(n3.pid)+") exited: signal: killed")
	})
	l.waitFor(l.errs, "the others said to keep running", func(s string) bool { return strings.Contains(s, "The other 2 nodes keep running") })
	kv(n1).ok("put", "tour", "greeting", "still here")
	// Gossip calls a crashed node "dead" (NodeStatus's comment says
	// "failed"; either will do).
	waitStatus(t, n1.http, "node3 failed", func(v clusterView) bool {
		s := v.member("node3").State
		return s == "dead" || s == "failed"
	})

	if code := l.interrupt(); code != 0 {
		t.Fatalf("exit status %d after SIGINT\nstdout:\n%s\nstderr:\n%s", code, l.out, l.errs)
	}
	if !strings.Contains(l.out.String(), "all nodes stopped") {
		t.Fatalf("no stop report:\n%s", l.out)
	}
	for _, n := range l.nodes {
		if !processGone(n.pid) {
			t.Errorf("%s (pid %d) still runs after cairn local exited", n.name, n.pid)
		}
	}
}

// With --tls, the nodes serve TLS on every port with a certificate made
// in DIR/tls; the banner's commands carry the CA, and with it data
// written through one node is read through another (forwarding and raft
// over TLS). A second run keeps the certificates.
func TestE2ELocalTLS(t *testing.T) {
	l := startLocal(t, "127.0.5.4", 30300, "--tls")
	ca := filepath.Join(l.dir, "tls", "ca.pem")
	if !strings.Contains(l.out.String(), "--tls-ca "+ca) {
		t.Fatalf("the banner does not give the CA:\n%s", l.out)
	}
	n1, n3 := l.nodes[0], l.nodes[2]
	kv := func(n localNodeInfo, args ...string) cliResult {
		return cli(t, "", nil, append(append([]string{"kv"}, args...), "-s", n.client, "--tls-ca", ca)...)
	}
	for _, args := range [][]string{{"add", "tls", "--replicas", "3"}, {"put", "tls", "k", "over TLS"}} {
		if r := kv(n1, args...); r.code != 0 {
			t.Fatalf("%v: %v", args, r)
		}
	}
	if r := kv(n3, "get", "tls", "k", "--raw"); r.code != 0 || r.stdout != "over TLS" {
		t.Fatalf("get through node 3: %v", r)
	}
	if r := cli(t, "", nil, "kv", "get", "tls", "k", "-s", n3.client); r.code == 0 {
		t.Fatalf("a client without the CA: %v", r)
	}
	if code := l.interrupt(); code != 0 {
		t.Fatalf("exit status %d after SIGINT", code)
	}
}

// A taken port is reported before anything starts.
func TestE2ELocalPortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.5.3:31200")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	r := cli(t, "", nil, "local", "--nodes", "1", "--host", "127.0.5.3", "--base-port", "30200", "--data-dir", t.TempDir())
	msg := wantFailure(t, r)
	if !strings.Contains(msg, "node1 cannot listen on 127.0.5.3:31200") || !strings.Contains(msg, "--base-port") {
		t.Fatalf("message %q", msg)
	}
	for _, args := range [][]string{{"--nodes", "0"}, {"--nodes", "3", "--base-port", "65000"}, {"--host", "localhost"}, {"extra"}} {
		wantFailure(t, cli(t, "", nil, append([]string{"local", "--data-dir", t.TempDir()}, args...)...))
	}
}
