package frontdoor_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// natsCLIVersion is the nats CLI `make test-deps` builds (from the Go
// module proxy) when none is installed.
const natsCLIVersion = "v0.5.0"

// natsCLI finds the nats CLI: $CAIRN_NATS_CLI, then bin/tools/nats at the
// repository root (where make test-deps puts it), then PATH.
func natsCLI(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CAIRN_NATS_CLI"); p != "" {
		return p
	}
	_, here, _, _ := runtime.Caller(0)
	local := filepath.Join(filepath.Dir(here), "..", "..", "bin", "tools", "nats")
	if _, err := os.Stat(local); err == nil {
		return local
	}
	if p, err := exec.LookPath("nats"); err == nil {
		return p
	}
	t.Skipf("SKIPPED: the nats CLI is not installed; `make test-deps` builds it into bin/tools "+
		"(go install github.com/nats-io/natscli/nats@%s), or set CAIRN_NATS_CLI", natsCLIVersion)
	return ""
}

// natsCLINoise is what differs between runs and servers by nature:
// times, durations, sizes, the lines naming the server or leader, and
// the table widths that follow from them.
var natsCLINoise = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`\d{4}-\d{2}-\d{2}[ T][0-9:.]+Z?( [+-]\d{4} UTC)?`), "<time>"},
	{regexp.MustCompile(`\d{2}:\d{2}:\d{2}`), "<time>"},
	{regexp.MustCompile(`[0-9.]+(ms|µs|s|m|h)( ago)?`), "<dur>"},
	{regexp.MustCompile(`[0-9]+(\.[0-9]+)? ?(B|KiB)\b`), "<size>"},
	{regexp.MustCompile(`(?m)^ +(Name|Leader|Cluster Name|Cluster|Replica): .*\n`), ""},
	// Last: table padding and rules, whose widths follow the widths of
	// the values replaced above ("980ms ago" against "1.02s ago").
	{regexp.MustCompile(` +│`), " │"},
	{regexp.MustCompile(`─+`), "─"},
}

// natsCLIScript runs every `nats kv` verb the issue names, in the order
// a user would, and returns what the CLI printed, normalized.
func natsCLIScript(t *testing.T, cli, url string) string {
	t.Helper()
	var out strings.Builder
	step := func(args ...string) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, cli, append([]string{"-s", url, "--timeout", "5s"}, args...)...)
		cmd.Env = append(os.Environ(), "NO_COLOR=1", "HOME="+t.TempDir())
		b, err := cmd.CombinedOutput()
		code := 0
		if err != nil {
			code = -1
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			}
		}
		fmt.Fprintf(&out, "### nats %s\n%s\nexit=%d\n", strings.Join(args, " "), b, code)
	}
	step("kv", "add", "clitest", "--history", "3", "--description", "cli test")
	step("kv", "put", "clitest", "eu.1", "one")
	step("kv", "put", "clitest", "eu.1", "two")
	step("kv", "get", "clitest", "eu.1")
	step("kv", "get", "clitest", "eu.1", "--raw")
	step("kv", "create", "clitest", "eu.1", "nope")
	step("kv", "create", "clitest", "eu.2", "fresh")
	step("kv", "update", "clitest", "eu.2", "updated", "99")
	step("kv", "update", "clitest", "eu.2", "updated", "3")
	step("kv", "history", "clitest", "eu.1")
	step("kv", "del", "clitest", "eu.1", "-f")
	step("kv", "get", "clitest", "eu.1")
	step("kv", "purge", "clitest", "eu.2", "-f")
	step("kv", "ls")
	step("kv", "ls", "clitest")
	fmt.Fprintf(&out, "### nats kv watch clitest\n%s\n", natsCLIWatch(t, cli, url, 2))
	step("kv", "info", "clitest")
	step("kv", "rm", "clitest", "-f")
	step("kv", "ls")
	s := out.String()
	for _, n := range natsCLINoise {
		s = n.re.ReplaceAllString(s, n.with)
	}
	return s
}

// natsCLIWatch runs `nats kv watch` until it has printed want lines (the
// current values), then stops it.
func natsCLIWatch(t *testing.T, cli, url string, want int) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, cli, "-s", url, "kv", "watch", "clitest")
	cmd.Env = append(os.Environ(), "NO_COLOR=1", "HOME="+t.TempDir())
	var buf syncBuffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	waitFor(t, 15*time.Second, "nats kv watch output", func() bool {
		return strings.Count(buf.String(), "\n") >= want
	})
	return buf.String()
}

// The nats CLI's kv verbs print the same and exit the same against cairn
// (one node, and a three-node cluster through a forwarding node) as
// against nats-server.
func TestNATSCLIKeyValueVerbs(t *testing.T) {
	cli := natsCLI(t)
	ref := natsCLIScript(t, cli, startReference(t))
	for _, tc := range []struct {
		name string
		url  func(*testing.T) string
	}{
		{"cairn", func(t *testing.T) string { return startCairn(t) }},
		{"cairn 3 nodes", func(t *testing.T) string {
			nodes := startCairnCluster(t, 3)
			entry := nodes[0]
			for _, cn := range nodes[1:] {
				if cn.n.NodeID() > entry.n.NodeID() {
					entry = cn
				}
			}
			return entry.url
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := natsCLIScript(t, cli, tc.url(t))
			if os.Getenv("CAIRN_NATS_CLI_DUMP") != "" {
				t.Log("\n" + got)
			}
			if got == ref {
				t.Logf("nats CLI: %d lines identical to nats-server", strings.Count(got, "\n"))
				return
			}
			refLines, gotLines := strings.Split(ref, "\n"), strings.Split(got, "\n")
			for i := range max(len(refLines), len(gotLines)) {
				var r, g string
				if i < len(refLines) {
					r = refLines[i]
				}
				if i < len(gotLines) {
					g = gotLines[i]
				}
				if r != g {
					t.Errorf("line %d differs:\n  nats-server: %s\n  %s: %s", i+1, r, tc.name, g)
				}
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for a writing process and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
