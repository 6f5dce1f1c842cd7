package main

// In-process tests of the client verbs: argument handling without a
// server, and the verbs against a node in this process, so the race
// detector sees the client code (the end-to-end tests run a binary built
// without it).

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "1024": 1024, "-1": -1, "1K": 1024, "64KiB": 64 << 10, "1kb": 1000,
		"2MB": 2e6, "2MiB": 2 << 20, "1G": 1 << 30, "3GB": 3e9, "1TiB": 1 << 40, "5 B": 5,
	} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "x", "-2", "1.5MB", "1XB", "99999999999TB"} {
		if got, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", in, got)
		}
	}
}

func TestParseMetadata(t *testing.T) {
	md, err := parseMetadata([]string{"a=1", "b=x=y", "c="})
	if err != nil || len(md) != 3 || md["a"] != "1" || md["b"] != "x=y" || md["c"] != "" {
		t.Fatalf("parseMetadata = %v, %v", md, err)
	}
	for _, bad := range []string{"novalue", "=v"} {
		if _, err := parseMetadata([]string{bad}); err == nil {
			t.Errorf("parseMetadata(%q) accepted", bad)
		}
	}
}

func TestCASErrorSaysActualRevision(t *testing.T) {
	wrapped := fmt.Errorf("%w: %w", &jetstream.APIError{Code: 400, ErrorCode: 10071,
		Description: "wrong last sequence: 12"}, jetstream.ErrKeyRevisionMismatch)
	if got := casError(wrapped, 3).Error(); got != "wrong revision 3: the key's latest revision is 12" {
		t.Fatalf("casError = %q", got)
	}
	zero := &jetstream.APIError{Code: 400, ErrorCode: 10071, Description: "wrong last sequence: 0"}
	if got := casError(zero, 3).Error(); got != "wrong revision 3: the key does not exist" {
		t.Fatalf("casError = %q", got)
	}
	if got := casError(jetstream.ErrKeyRevisionMismatch, 3).Error(); !strings.Contains(got, "wrong revision 3") {
		t.Fatalf("casError = %q", got)
	}
}

func TestHumanFormats(t *testing.T) {
	for n, want := range map[uint64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 3 << 20: "3.0 MiB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
	if got := preview([]byte("a\nb")); got != `a\nb` {
		t.Errorf("preview = %q", got)
	}
	if got := preview([]byte(strings.Repeat("x", 100))); len(got) != 40 || !strings.HasSuffix(got, "...") {
		t.Errorf("preview of a long value = %q", got)
	}
	if got := preview([]byte{0xff}); !strings.Contains(got, "binary") {
		t.Errorf("preview of binary = %q", got)
	}
}

// runIn runs the cairn command line in this process, as run does, with
// stdin and a context (cancelling it stops kv watch).
func runIn(ctx context.Context, stdin string, stdout, stderr io.Writer, args ...string) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(stderr, "cairn: %v\n", err)
		return 1
	}
	return 0
}

func TestKVArgumentErrors(t *testing.T) {
	clearCairnEnv(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"kv", "update", "b", "k", "v", "x"}, `revision "x"`},
		{[]string{"kv", "update", "b", "k", "v"}, "accepts 4 arg(s)"},
		{[]string{"kv", "get", "b", "k", "--raw", "--json"}, "--raw and --json"},
		{[]string{"kv", "add", "b", "--max-value-size", "lots"}, "not a size"},
		{[]string{"kv", "add", "b", "--metadata", "novalue"}, "KEY=VALUE"},
		{[]string{"kv", "ls", "--timeout", "0s"}, "--timeout must be positive"},
		{[]string{"kv", "watch"}, "requires at least 1 arg"},
		{[]string{"kv", "put", "b", "k", "v", "-s", "nats://127.0.0.1:1"}, "cannot connect to nats://127.0.0.1:1"},
		{[]string{"health", "-s", "nats://127.0.0.1:1"}, "unhealthy: cannot connect to nats://127.0.0.1:1"},
	} {
		var out, errOut bytes.Buffer
		if code := run(tc.args, &out, &errOut); code != 1 {
			t.Errorf("%v: exit %d, want 1", tc.args, code)
		}
		if !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("%v: stderr %q lacks %q", tc.args, errOut.String(), tc.want)
		}
	}
}

// startNodeInProcess runs a node in this process and returns its client
// URL; it stops when the test ends.
func startNodeInProcess(t *testing.T) string {
	t.Helper()
	n := runNodeInProcess(t)
	t.Cleanup(func() { n.stop(t, false) })
	url, _ := n.logs.waitLog(t, msgStarted)["client-url"].(string)
	if url == "" {
		t.Fatal("no client-url")
	}
	return url
}

func TestKVInProcess(t *testing.T) {
	url := startNodeInProcess(t)
	ctx := context.Background()
	do := func(stdin string, args ...string) (string, string, int) {
		t.Helper()
		var out, errOut bytes.Buffer
		code := runIn(ctx, stdin, &out, &errOut, append(args, "-s", url)...)
		return out.String(), errOut.String(), code
	}
	ok := func(args ...string) string {
		t.Helper()
		out, errOut, code := do("", args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
		return out
	}
	ok("kv", "add", "p", "--history", "3")

	// A watch running while the other verbs write.
	watchCtx, stopWatch := context.WithCancel(ctx)
	watchOut := newLogLines()
	watchErr := newLogLines()
	watchDone := make(chan int, 1)
	go func() {
		watchDone <- runIn(watchCtx, "", watchOut, watchErr, "kv", "watch", "p", "--json", "-s", url)
	}()
	watcher := &child{stderr: watchErr, exited: make(chan struct{})}
	if lines := waitLines(t, watcher, watchOut, 1); lines[0] != `{"initial_values_done":true}` {
		t.Fatalf("watch of an empty bucket starts with %q", lines[0])
	}

	ok("kv", "put", "p", "k", "v1")
	if _, errOut, code := do("v2", "kv", "put", "p", "k"); code != 0 {
		t.Fatalf("put from stdin: %s", errOut)
	}
	e := oneJSON[entryJSON](t, ok("kv", "get", "p", "k", "--json"))
	if e.Revision != 2 || string(e.Value) != "v2" {
		t.Fatalf("get = %+v", e)
	}
	if _, errOut, code := do("", "kv", "update", "p", "k", "v3", "1"); code != 1 ||
		errOut != "cairn: update p/k: wrong revision 1: the key's latest revision is 2\n" {
		t.Fatalf("stale update: exit %d, %q", code, errOut)
	}
	ok("kv", "update", "p", "k", "v3", "2")
	ok("kv", "create", "p", "other", "o")
	ok("kv", "del", "p", "other")
	if _, errOut, code := do("", "kv", "get", "p", "other"); code != 1 || !strings.Contains(errOut, "deleted at revision 5") {
		t.Fatalf("get of a deleted key: exit %d, %q", code, errOut)
	}
	if h := jsonLines[entryJSON](t, ok("kv", "history", "p", "k", "--json")); len(h) != 3 {
		t.Fatalf("history = %+v", h)
	}
	if out := ok("kv", "ls", "p"); out != "k\n" {
		t.Fatalf("ls p = %q", out)
	}
	if b := oneJSON[bucketJSON](t, ok("kv", "info", "p", "--json")); b.LastRevision != 5 || b.Values != 5 {
		t.Fatalf("info = %+v", b)
	}
	ok("kv", "purge", "p", "k")
	if h := oneJSON[healthJSON](t, ok("health", "--json")); !h.Healthy {
		t.Fatalf("health = %+v", h)
	}

	lines := waitLines(t, watcher, watchOut, 7)
	ops := []string{}
	for _, l := range lines[1:] {
		ops = append(ops, oneJSON[entryJSON](t, l).Operation)
	}
	if strings.Join(ops, " ") != "PUT PUT PUT PUT DEL PURGE" {
		t.Fatalf("watched operations %v:\n%s", ops, watchOut)
	}
	stopWatch()
	select {
	case code := <-watchDone:
		if code != 0 {
			t.Fatalf("watch exit %d after cancel: %s", code, watchErr)
		}
	case <-time.After(e2eTimeout):
		t.Fatal("watch did not stop")
	}

	ok("kv", "rm", "p", "--force")
	if out := ok("kv", "ls", "--names"); out != "" {
		t.Fatalf("ls after rm = %q", out)
	}
}
