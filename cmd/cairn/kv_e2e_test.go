package main

// End-to-end tests of the client verbs: `cairn kv ...` and `cairn health`
// run as child processes against a `cairn node` child process.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// startNodeURL starts `cairn node` on a fresh data directory and returns
// its NATS client URL.
func startNodeURL(t *testing.T) string {
	t.Helper()
	n := startCairn(t, childEnv(), nodeArgs(filepath.Join(t.TempDir(), "data"))...)
	url, _ := n.waitLog(t, msgStarted)["client-url"].(string)
	if url == "" {
		t.Fatal("startup line has no client-url")
	}
	return url
}

// cliResult is what one run of the binary did.
type cliResult struct {
	args   []string
	stdout string
	stderr string
	code   int
}

func (r cliResult) String() string {
	return fmt.Sprintf("cairn %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}

// cli runs the binary to completion with stdin and the environment env
// (CAIRN_* variables of the test process removed, extra added).
func cli(t *testing.T, stdin string, extraEnv []string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), e2eTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, cairnBinary(t), args...)
	cmd.Env = childEnv(extraEnv...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	r := cliResult{args: args, stdout: out.String(), stderr: errOut.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.Exited():
		r.code = ee.ExitCode()
	default:
		t.Fatalf("cairn %v: %v\nstderr:\n%s", args, err, errOut.String())
	}
	return r
}

// kvCLI runs `cairn kv ARGS -s url`.
type kvCLI struct {
	t   *testing.T
	url string
}

func (k kvCLI) run(stdin string, args ...string) cliResult {
	k.t.Helper()
	return cli(k.t, stdin, nil, append(append([]string{"kv"}, args...), "-s", k.url)...)
}

// ok runs a verb that must succeed and returns its stdout.
func (k kvCLI) ok(args ...string) string {
	k.t.Helper()
	r := k.run("", args...)
	if r.code != 0 || r.stderr != "" {
		k.t.Fatalf("want success and a silent stderr: %v", r)
	}
	return r.stdout
}

// fails runs a verb that must fail and returns its one stderr line.
func (k kvCLI) fails(args ...string) string {
	k.t.Helper()
	return wantFailure(k.t, k.run("", args...))
}

func wantFailure(t *testing.T, r cliResult) string {
	t.Helper()
	return wantFailureAfter(t, r, "")
}

// wantFailureAfter is wantFailure for a command that printed prefix on
// stderr (a question) before its error.
func wantFailureAfter(t *testing.T, r cliResult, prefix string) string {
	t.Helper()
	if !strings.HasPrefix(r.stderr, prefix) {
		t.Fatalf("stderr does not start with %q: %v", prefix, r)
	}
	r.stderr = strings.TrimPrefix(r.stderr, prefix)
	if r.code != 1 {
		t.Fatalf("want exit status 1: %v", r)
	}
	if !strings.HasPrefix(r.stderr, "cairn: ") || strings.Count(r.stderr, "\n") != 1 || !strings.HasSuffix(r.stderr, "\n") {
		t.Fatalf("want one stderr line starting with \"cairn: \": %v", r)
	}
	return strings.TrimSuffix(r.stderr, "\n")
}

// jsonLines decodes stdout holding one JSON object per line into T values.
func jsonLines[T any](t *testing.T, stdout string) []T {
	t.Helper()
	var out []T
	for _, line := range strings.Split(strings.TrimSuffix(stdout, "\n"), "\n") {
		if line == "" {
			continue
		}
		var v T
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("line %q is not a %T: %v\nstdout:\n%s", line, v, err, stdout)
		}
		out = append(out, v)
	}
	return out
}

func oneJSON[T any](t *testing.T, stdout string) T {
	t.Helper()
	vs := jsonLines[T](t, stdout)
	if len(vs) != 1 {
		t.Fatalf("want exactly one JSON line, got %d:\n%s", len(vs), stdout)
	}
	return vs[0]
}

func checkEntry(t *testing.T, e entryJSON, bucket, key string, rev uint64, op, value string) {
	t.Helper()
	if e.Bucket != bucket || e.Key != key || e.Revision != rev || e.Operation != op || string(e.Value) != value ||
		e.Length != len(value) || e.ValueString == nil || *e.ValueString != value {
		t.Fatalf("entry = %+v (value_string %v), want %s/%s revision %d %s %q", e, e.ValueString, bucket, key, rev, op, value)
	}
	created, err := time.Parse(time.RFC3339Nano, e.Created)
	if err != nil || time.Since(created) > time.Hour || time.Until(created) > time.Minute {
		t.Fatalf("created = %q (%v), want a recent RFC 3339 time", e.Created, err)
	}
}

func TestE2EKVBuckets(t *testing.T) {
	k := kvCLI{t, startNodeURL(t)}

	if out := k.ok("ls"); out != "No buckets\n" {
		t.Fatalf("ls with no buckets = %q", out)
	}
	if out := k.ok("ls", "--json"); out != "" {
		t.Fatalf("ls --json with no buckets = %q, want nothing", out)
	}

	b := oneJSON[bucketJSON](t, k.ok("add", "orders", "--json", "--history", "5", "--ttl", "1h",
		"--max-value-size", "1KiB", "--max-bucket-size", "1048576", "--storage", "file", "--replicas", "1",
		"--description", "EU and US orders", "--marker-ttl", "1m", "--compress",
		"--metadata", "team=core", "--metadata", "tier=gold=1"))
	if b.Bucket != "orders" || b.History != 5 || b.TTL != "1h0m0s" || b.MarkerTTL != "1m0s" ||
		b.MaxValueSize != 1024 || b.MaxBucketSize != 1<<20 || b.Storage != "file" || b.Replicas != 1 ||
		!b.Compressed || b.Description != "EU and US orders" || b.Values != 0 ||
		b.Metadata["team"] != "core" || b.Metadata["tier"] != "gold=1" {
		t.Fatalf("add --json = %+v", b)
	}
	// Adding again with the same configuration is fine; with another, not.
	out := k.ok("add", "orders", "--history", "5", "--ttl", "1h", "--max-value-size", "1024",
		"--max-bucket-size", "1MiB", "--description", "EU and US orders", "--marker-ttl", "1m", "--compress",
		"--metadata", "team=core", "--metadata", "tier=gold=1")
	for _, want := range []string{"Bucket:", "orders", "History:", "5", "TTL:", "1h0m0s", "Marker TTL:", "1m0s", "team"} {
		if !strings.Contains(out, want) {
			t.Fatalf("add output lacks %q:\n%s", want, out)
		}
	}
	if msg := k.fails("add", "orders", "--history", "2"); msg != "cairn: add orders: bucket exists with a different configuration" {
		t.Fatalf("add with another configuration: %q", msg)
	}
	if msg := k.fails("add", "bad.name"); !strings.Contains(msg, "invalid bucket name") {
		t.Fatalf("add bad.name: %q", msg)
	}
	if msg := k.fails("add", "x", "--storage", "disk"); !strings.Contains(msg, `"disk"`) {
		t.Fatalf("add --storage disk: %q", msg)
	}
	mem := oneJSON[bucketJSON](t, k.ok("add", "cache", "--storage", "memory", "--json"))
	if mem.Storage != "memory" || mem.History != 1 || mem.TTL != "0s" || mem.MaxValueSize != -1 {
		t.Fatalf("add cache = %+v", mem)
	}
	k.ok("add", "scratch")

	k.ok("put", "orders", "eu.1", "one")
	last := oneJSON[resultJSON](t, k.ok("put", "orders", "eu.2", "two", "--json"))

	info := oneJSON[bucketJSON](t, k.ok("info", "orders", "--json"))
	if info.Values != 2 || info.LastRevision != last.Revision || info.Bytes == 0 || info.LastUpdate == "" || info.History != 5 {
		t.Fatalf("info --json = %+v, want 2 values, last revision %d", info, last.Revision)
	}
	out = k.ok("info", "orders")
	for _, want := range []string{"Values:", "History:", "TTL:", "Marker TTL:", "Storage:", "Replicas:",
		"Size:", fmt.Sprintf("Last revision:    %d", last.Revision)} {
		if !strings.Contains(out, want) {
			t.Fatalf("info lacks %q:\n%s", want, out)
		}
	}

	// ls: a table, names only, JSON.
	out = k.ok("ls")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "BUCKET") || !strings.HasPrefix(lines[1], "cache ") ||
		!strings.HasPrefix(lines[2], "orders ") || !strings.Contains(lines[2], "EU and US orders") {
		t.Fatalf("ls table:\n%s", out)
	}
	if out := k.ok("ls", "--names"); out != "cache\norders\nscratch\n" {
		t.Fatalf("ls --names = %q", out)
	}
	all := jsonLines[bucketJSON](t, k.ok("ls", "--json"))
	if len(all) != 3 || all[1].Bucket != "orders" || all[1].Values != 2 || all[0].Storage != "memory" {
		t.Fatalf("ls --json = %+v", all)
	}

	// rm asks; only yes deletes. del BUCKET does the same; --force skips.
	question := func(bucket string) string {
		return "Delete bucket " + bucket + " with all its keys and history? [y/N] \n"
	}
	if msg := wantFailureAfter(t, k.run("n\n", "rm", "cache"), question("cache")); msg !=
		"cairn: rm cache: not confirmed, nothing deleted (use --force to delete without asking)" {
		t.Fatalf("rm answered no: %q", msg)
	}
	if msg := wantFailureAfter(t, k.run("", "rm", "cache"), question("cache")); !strings.Contains(msg, "--force") {
		t.Fatalf("rm with no answer: %q", msg)
	}
	if r := k.run("yes\n", "rm", "cache"); r.code != 0 || r.stdout != "deleted bucket cache\n" || r.stderr != question("cache") {
		t.Fatalf("rm answered yes: %v", r)
	}
	if msg := wantFailureAfter(t, k.run("", "del", "scratch"), question("scratch")); !strings.Contains(msg, "not confirmed") {
		t.Fatalf("del BUCKET with no answer: %q", msg)
	}
	if out := k.ok("del", "scratch", "--force", "--json"); out != `{"bucket":"scratch","operation":"DELETE_BUCKET"}`+"\n" {
		t.Fatalf("del BUCKET --force --json = %q", out)
	}
	if msg := k.fails("rm", "scratch", "-f"); msg != "cairn: rm scratch: bucket not found" {
		t.Fatalf("rm of a deleted bucket: %q", msg)
	}
	if out := k.ok("ls", "--names"); out != "orders\n" {
		t.Fatalf("ls --names after deletes = %q", out)
	}
	if msg := k.fails("info", "cache"); msg != "cairn: info cache: bucket not found" {
		t.Fatalf("info of a deleted bucket: %q", msg)
	}
}

func TestE2EKVKeys(t *testing.T) {
	k := kvCLI{t, startNodeURL(t)}
	k.ok("add", "orders", "--history", "10", "--marker-ttl", "1m")

	// put: from the argument and from stdin.
	if out := k.ok("put", "orders", "eu.1", "first"); out != "orders > eu.1 revision: 1\n" {
		t.Fatalf("put = %q", out)
	}
	r := k.run("line one\nline two\n", "put", "orders", "eu.2", "--json")
	if r.code != 0 {
		t.Fatalf("put from stdin: %v", r)
	}
	if res := oneJSON[resultJSON](t, r.stdout); res != (resultJSON{Bucket: "orders", Key: "eu.2", Operation: "PUT", Revision: 2}) {
		t.Fatalf("put --json = %+v", res)
	}
	binary := "\x00\xff\xfe"
	if r := k.run(binary, "put", "orders", "bin"); r.code != 0 {
		t.Fatalf("put binary: %v", r)
	}

	// get: human, raw, JSON, an older revision.
	out := k.ok("get", "orders", "eu.2")
	if !strings.HasPrefix(out, "orders > eu.2 revision: 2 created @ ") || !strings.HasSuffix(out, "\n\nline one\nline two\n") {
		t.Fatalf("get = %q", out)
	}
	if out := k.ok("get", "orders", "eu.2", "--raw"); out != "line one\nline two\n" {
		t.Fatalf("get --raw = %q", out)
	}
	if out := k.ok("get", "orders", "bin", "--raw"); out != binary {
		t.Fatalf("get --raw of binary = %q", out)
	}
	bin := oneJSON[entryJSON](t, k.ok("get", "orders", "bin", "--json"))
	if string(bin.Value) != binary || bin.ValueString != nil || bin.Length != 3 {
		t.Fatalf("get --json of binary = %+v", bin)
	}
	if !strings.Contains(k.ok("get", "orders", "bin"), "binary") {
		t.Fatal("get of a binary value does not say it is binary")
	}
	k.ok("put", "orders", "eu.1", "second") // revision 4
	checkEntry(t, oneJSON[entryJSON](t, k.ok("get", "orders", "eu.1", "--json")), "orders", "eu.1", 4, "PUT", "second")
	checkEntry(t, oneJSON[entryJSON](t, k.ok("get", "orders", "eu.1", "--revision", "1", "--json")), "orders", "eu.1", 1, "PUT", "first")
	if msg := k.fails("get", "orders", "eu.1", "--revision", "2"); msg != "cairn: get orders/eu.1: revision 2 of the key not found" {
		t.Fatalf("get --revision of another key's revision: %q", msg)
	}
	// The raw JSON carries base64 in "value", as documented.
	var rawJSON map[string]any
	if err := json.Unmarshal([]byte(k.ok("get", "orders", "eu.1", "--json")), &rawJSON); err != nil ||
		rawJSON["value"] != base64.StdEncoding.EncodeToString([]byte("second")) || rawJSON["value_string"] != "second" {
		t.Fatalf("get --json = %v (%v)", rawJSON, err)
	}

	// create: only when the key has no value.
	if msg := k.fails("create", "orders", "eu.1", "x"); msg != "cairn: create orders/eu.1: key exists (at revision 4)" {
		t.Fatalf("create of an existing key: %q", msg)
	}
	if out := k.ok("create", "orders", "eu.3", "three", "--ttl", "1h"); out != "orders > eu.3 revision: 5\n" {
		t.Fatalf("create = %q", out)
	}
	if r := k.run("from stdin", "create", "orders", "eu.4", "--json"); r.code != 0 ||
		oneJSON[resultJSON](t, r.stdout).Revision != 6 {
		t.Fatalf("create from stdin: %v", r)
	}

	// update: compare and set.
	if res := oneJSON[resultJSON](t, k.ok("update", "orders", "eu.1", "third", "4", "--json")); res.Revision != 7 {
		t.Fatalf("update = %+v, want revision 7", res)
	}
	if msg := k.fails("update", "orders", "eu.1", "stale", "4"); msg != "cairn: update orders/eu.1: wrong revision 4: the key's latest revision is 7" {
		t.Fatalf("update with a stale revision: %q", msg)
	}
	if msg := k.fails("update", "orders", "nokey", "v", "3"); msg != "cairn: update orders/nokey: wrong revision 3: the key does not exist" {
		t.Fatalf("update of a missing key: %q", msg)
	}
	if msg := k.fails("update", "orders", "eu.1", "v", "seven"); !strings.Contains(msg, `"seven"`) {
		t.Fatalf("update with a bad revision: %q", msg)
	}
	if got := oneJSON[entryJSON](t, k.ok("get", "orders", "eu.1", "--json")); string(got.Value) != "third" {
		t.Fatalf("a failed update wrote: %+v", got)
	}

	// del: a marker; get then says the key is gone and when.
	if msg := k.fails("del", "orders", "eu.2", "--last-revision", "1"); msg != "cairn: del orders/eu.2: wrong revision 1: the key's latest revision is 2" {
		t.Fatalf("del with a stale revision: %q", msg)
	}
	if out := k.ok("del", "orders", "eu.2", "--last-revision", "2"); out != "deleted orders > eu.2\n" {
		t.Fatalf("del = %q", out)
	}
	if msg := k.fails("get", "orders", "eu.2"); msg != "cairn: get orders/eu.2: key not found (deleted at revision 8)" {
		t.Fatalf("get of a deleted key: %q", msg)
	}
	if msg := k.fails("get", "orders", "never"); msg != "cairn: get orders/never: key not found" {
		t.Fatalf("get of a missing key: %q", msg)
	}
	if res := oneJSON[resultJSON](t, k.ok("del", "orders", "eu.4", "--json")); res != (resultJSON{Bucket: "orders", Key: "eu.4", Operation: "DEL"}) {
		t.Fatalf("del --json = %+v", res)
	}
	// Create works again on a deleted key.
	k.ok("create", "orders", "eu.4", "again") // revision 10

	// history: every revision held, deletes included.
	hist := jsonLines[entryJSON](t, k.ok("history", "orders", "eu.1", "--json"))
	if len(hist) != 3 {
		t.Fatalf("history has %d entries, want 3: %+v", len(hist), hist)
	}
	checkEntry(t, hist[0], "orders", "eu.1", 1, "PUT", "first")
	checkEntry(t, hist[1], "orders", "eu.1", 4, "PUT", "second")
	checkEntry(t, hist[2], "orders", "eu.1", 7, "PUT", "third")
	out = k.ok("history", "orders", "eu.4")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "KEY") || !strings.Contains(lines[0], "REVISION") ||
		!strings.Contains(lines[2], " DEL ") || !strings.Contains(lines[3], "again") {
		t.Fatalf("history table:\n%s", out)
	}
	if msg := k.fails("history", "orders", "never"); msg != "cairn: history orders/never: key not found" {
		t.Fatalf("history of a missing key: %q", msg)
	}

	// purge: only a marker stays.
	if msg := k.fails("purge", "orders", "eu.1", "--last-revision", "4"); !strings.Contains(msg, "latest revision is 7") {
		t.Fatalf("purge with a stale revision: %q", msg)
	}
	if res := oneJSON[resultJSON](t, k.ok("purge", "orders", "eu.1", "--ttl", "1h", "--json")); res.Operation != "PURGE" {
		t.Fatalf("purge --json = %+v", res)
	}
	hist = jsonLines[entryJSON](t, k.ok("history", "orders", "eu.1", "--json"))
	if len(hist) != 1 || hist[0].Operation != "PURGE" || hist[0].Revision != 11 {
		t.Fatalf("history after purge = %+v", hist)
	}
	if out := k.ok("purge", "orders", "eu.3"); out != "purged orders > eu.3\n" {
		t.Fatalf("purge = %q", out)
	}

	// ls BUCKET [FILTER...]: live keys only, sorted.
	k.ok("put", "orders", "us.1", "u")
	k.ok("put", "orders", "eu.sub.1", "s")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"orders"}, "bin\neu.4\neu.sub.1\nus.1\n"},
		{[]string{"orders", "eu.*"}, "eu.4\n"},
		{[]string{"orders", "eu.>"}, "eu.4\neu.sub.1\n"},
		{[]string{"orders", "eu.*", "us.*"}, "eu.4\nus.1\n"},
		{[]string{"orders", "nothing.*"}, ""},
	} {
		if out := k.ok(append([]string{"ls"}, tc.args...)...); out != tc.want {
			t.Errorf("ls %v = %q, want %q", tc.args, out, tc.want)
		}
	}
	keys := jsonLines[keyJSON](t, k.ok("ls", "orders", "us.*", "--json"))
	if len(keys) != 1 || keys[0].Key != "us.1" || keys[0].Bucket != "orders" || keys[0].Revision != 13 {
		t.Fatalf("ls --json = %+v", keys)
	}

	// Mistakes and missing things.
	if msg := k.fails("get", "nope", "k"); msg != "cairn: get nope: bucket not found" {
		t.Fatalf("get from a missing bucket: %q", msg)
	}
	if msg := k.fails("put", "orders", "bad key", "v"); !strings.HasPrefix(msg, "cairn: put orders/bad key: invalid key") {
		t.Fatalf("put of an invalid key: %q", msg)
	}
	if msg := k.fails("get", "orders", "eu.1", "--raw", "--json"); !strings.Contains(msg, "--raw") {
		t.Fatalf("get --raw --json: %q", msg)
	}
	if msg := k.fails("del", "orders", "--last-revision", "3"); !strings.Contains(msg, "needs a KEY") {
		t.Fatalf("del BUCKET --last-revision: %q", msg)
	}
}

func TestE2EKVConnectionErrors(t *testing.T) {
	url := "nats://" + closedAddr(t)
	k := kvCLI{t, url}
	msg := k.fails("get", "orders", "k")
	if !strings.HasPrefix(msg, "cairn: cannot connect to "+url+": ") || !strings.Contains(msg, "refused") {
		t.Fatalf("connection failure: %q", msg)
	}
	// CAIRN_SERVER is used when -s is not given.
	r := cli(t, "", []string{"CAIRN_SERVER=" + url}, "kv", "ls")
	if msg := wantFailure(t, r); !strings.Contains(msg, url) {
		t.Fatalf("CAIRN_SERVER not used: %q", msg)
	}
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// startStreaming starts cairn with stdout collected line by line, for
// commands that print while they run.
func startStreaming(t *testing.T, args ...string) (*child, *logLines) {
	t.Helper()
	out := newLogLines()
	c := &child{stderr: newLogLines(), exited: make(chan struct{})}
	c.cmd = exec.Command(cairnBinary(t), args...)
	c.cmd.Env = childEnv()
	c.cmd.Stdout = out
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
	return c, out
}

// waitLines waits until out holds at least n complete lines and returns
// them. It fails if the process exits first or the deadline passes.
func waitLines(t *testing.T, c *child, out *logLines, n int) []string {
	t.Helper()
	deadline := time.After(e2eTimeout)
	for {
		lines, changed := out.snapshot()
		if len(lines) >= n {
			return lines
		}
		select {
		case <-changed:
		case <-c.exited:
			if lines, _ := out.snapshot(); len(lines) >= n {
				return lines
			}
			t.Fatalf("cairn exited (%v) after %d of %d lines:\n%s\nstderr:\n%s", c.err, len(lines), n, out, c.stderr)
		case <-deadline:
			t.Fatalf("%d of %d lines within %s:\n%s\nstderr:\n%s", len(lines), n, e2eTimeout, out, c.stderr)
		}
	}
}

func TestE2EKVWatch(t *testing.T) {
	url := startNodeURL(t)
	k := kvCLI{t, url}
	k.ok("add", "w", "--history", "5")
	k.ok("put", "w", "a", "1") // revision 1
	k.ok("put", "w", "b", "2") // revision 2
	k.ok("put", "w", "a", "3") // revision 3
	k.ok("put", "w", "x.1", "4")

	human, humanOut := startStreaming(t, "kv", "watch", "w", "-s", url)
	js, jsOut := startStreaming(t, "kv", "watch", "w", "a", "b", "--json", "-s", url)
	hist, histOut := startStreaming(t, "kv", "watch", "w", "a", "--history", "--json", "-s", url)
	upd, updOut := startStreaming(t, "kv", "watch", "w", "--updates-only", "--ignore-deletes", "-s", url)

	// Initial values, then the marker.
	lines := waitLines(t, human, humanOut, 4)
	for i, want := range []string{"PUT w > b revision: 2: 2", "PUT w > a revision: 3: 3", "PUT w > x.1 revision: 4: 4"} {
		if !strings.HasPrefix(lines[i], "[") || !strings.HasSuffix(lines[i], want) {
			t.Fatalf("watch line %d = %q, want ... %q", i, lines[i], want)
		}
	}
	if lines[3] != watchMarkerLine {
		t.Fatalf("watch line 3 = %q, want the marker", lines[3])
	}
	entries := jsonLines[json.RawMessage](t, strings.Join(waitLines(t, js, jsOut, 3), "\n"))
	var e entryJSON
	if json.Unmarshal(entries[0], &e); e.Key != "b" || e.Revision != 2 {
		t.Fatalf("json watch line 0 = %s", entries[0])
	}
	if json.Unmarshal(entries[1], &e); e.Key != "a" || e.Revision != 3 {
		t.Fatalf("json watch line 1 = %s", entries[1])
	}
	var m watchMarkerJSON
	if err := json.Unmarshal(entries[2], &m); err != nil || !m.InitialValuesDone {
		t.Fatalf("json watch line 2 = %s, want the marker", entries[2])
	}
	hl := waitLines(t, hist, histOut, 3)
	if hl[2] != `{"initial_values_done":true}` {
		t.Fatalf("history watch:\n%s", strings.Join(hl, "\n"))
	}
	checkEntry(t, oneJSON[entryJSON](t, hl[0]), "w", "a", 1, "PUT", "1")
	checkEntry(t, oneJSON[entryJSON](t, hl[1]), "w", "a", 3, "PUT", "3")
	if ul := waitLines(t, upd, updOut, 1); ul[0] != watchMarkerLine {
		t.Fatalf("updates-only watch starts with %q, want the marker", ul[0])
	}

	// Live updates.
	k.ok("put", "w", "b", "5") // revision 5
	k.ok("del", "w", "a")      // revision 6
	k.ok("put", "w", "c", "7") // revision 7

	lines = waitLines(t, human, humanOut, 7)
	if !strings.HasSuffix(lines[4], "PUT w > b revision: 5: 5") || !strings.HasSuffix(lines[5], "DEL w > a revision: 6") ||
		!strings.HasSuffix(lines[6], "PUT w > c revision: 7: 7") {
		t.Fatalf("live lines:\n%s", strings.Join(lines[4:], "\n"))
	}
	live := jsonLines[entryJSON](t, strings.Join(waitLines(t, js, jsOut, 5)[3:], "\n"))
	checkEntry(t, live[0], "w", "b", 5, "PUT", "5")
	if live[1].Key != "a" || live[1].Operation != "DEL" || live[1].Revision != 6 || live[1].Length != 0 {
		t.Fatalf("json watch delete = %+v", live[1])
	}
	ul := waitLines(t, upd, updOut, 3)
	if !strings.HasSuffix(ul[1], "PUT w > b revision: 5: 5") || !strings.HasSuffix(ul[2], "PUT w > c revision: 7: 7") {
		t.Fatalf("updates-only, ignore-deletes watch:\n%s", strings.Join(ul, "\n"))
	}

	// SIGINT stops every watch cleanly.
	for _, c := range []*child{human, js, hist, upd} {
		c.signal(t, syscall.SIGINT)
		if code := c.waitExit(t); code != 0 {
			t.Fatalf("watch exit status after SIGINT = %d; stderr:\n%s", code, c.stderr)
		}
	}
	if got := len(strings.Split(strings.TrimSpace(jsOut.String()), "\n")); got != 5 {
		t.Fatalf("filtered watch printed %d lines, want 5 (c is not watched):\n%s", got, jsOut)
	}

	// A missing bucket fails at once.
	if msg := k.fails("watch", "nope"); msg != "cairn: watch nope: bucket not found" {
		t.Fatalf("watch of a missing bucket: %q", msg)
	}
	if msg := k.fails("watch", "w", "--history", "--updates-only"); !strings.Contains(msg, "cannot be used together") {
		t.Fatalf("watch --history --updates-only: %q", msg)
	}
}

func TestE2EHealth(t *testing.T) {
	started := startCairn(t, childEnv(), nodeArgs(filepath.Join(t.TempDir(), "data"))...).waitLog(t, msgStarted)
	url, _ := started["client-url"].(string)
	httpURL, _ := started["http-url"].(string)
	if url == "" || httpURL == "" {
		t.Fatalf("startup line without client-url or http-url: %v", started)
	}
	r := cli(t, "", nil, "health", "-s", url)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "ok: "+url+" answered") || r.stderr != "" {
		t.Fatalf("health of a running node: %v", r)
	}
	r = cli(t, "", []string{"CAIRN_SERVER=" + url}, "health", "--json", "--timeout", "10s")
	h := oneJSON[healthJSON](t, r.stdout)
	if r.code != 0 || !h.Healthy || h.Server != url || h.APILevel < 1 || h.Error != "" {
		t.Fatalf("health --json: %+v, %v", h, r)
	}

	// --ready: /readyz must answer 200 too.
	r = cli(t, "", nil, "health", "-s", url, "--ready", "--http", httpURL)
	if r.code != 0 || !strings.Contains(r.stdout, ", ready)") {
		t.Fatalf("health --ready of a ready node: %v", r)
	}
	notReady := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `{"status":"not ready","reasons":["not joined: no meta leader known"]}`)
	}))
	defer notReady.Close()
	r = cli(t, "", nil, "health", "-s", url, "--ready", "--http", notReady.URL)
	if msg := wantFailure(t, r); msg != "cairn: unhealthy: not ready: not joined: no meta leader known" {
		t.Fatalf("health --ready of a node that is not ready: %q", msg)
	}
	r = cli(t, "", nil, "health", "-s", url, "--ready", "--http", notReady.URL, "--json")
	h = oneJSON[healthJSON](t, r.stdout)
	if r.code != 1 || h.Healthy || h.Ready == nil || *h.Ready || len(h.Reasons) != 1 {
		t.Fatalf("health --ready --json of a node that is not ready: %+v, %v", h, r)
	}

	closed := "nats://" + closedAddr(t)
	r = cli(t, "", nil, "health", "-s", closed, "--timeout", "2s")
	if msg := wantFailure(t, r); !strings.HasPrefix(msg, "cairn: unhealthy: cannot connect to "+closed+": ") {
		t.Fatalf("health of a closed port: %q", msg)
	}
	if r.stdout != "" {
		t.Fatalf("health of a closed port printed to stdout: %q", r.stdout)
	}
	r = cli(t, "", nil, "health", "-s", closed, "--json")
	h = oneJSON[healthJSON](t, r.stdout)
	if r.code != 1 || h.Healthy || h.Server != closed || !strings.Contains(h.Error, "cannot connect") {
		t.Fatalf("health --json of a closed port: %+v, %v", h, r)
	}
}

// --max-connections and --max-subscriptions reach the NATS listener.
func TestE2ENodeClientLimits(t *testing.T) {
	args := append(nodeArgs(filepath.Join(t.TempDir(), "data")), "--max-connections", "1", "--max-subscriptions", "1")
	url, _ := startCairn(t, childEnv(), args...).waitLog(t, msgStarted)["client-url"].(string)
	subErr := make(chan error, 1)
	nc, err := nats.Connect(url, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case subErr <- err:
		default:
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for _, subj := range []string{"a", "b"} {
		if _, err := nc.SubscribeSync(subj); err != nil {
			t.Fatal(err)
		}
	}
	_ = nc.Flush()
	select {
	case err := <-subErr:
		if !strings.Contains(strings.ToLower(err.Error()), "maximum subscriptions exceeded") {
			t.Fatalf("second subscription: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a second subscription over --max-subscriptions 1 was not refused")
	}
	if nc2, err := nats.Connect(url, nats.NoReconnect()); err == nil {
		nc2.Close()
		t.Fatal("a second connection over --max-connections 1 was accepted")
	} else if !strings.Contains(strings.ToLower(err.Error()), "maximum connections exceeded") {
		t.Fatalf("second connection: %v", err)
	}
}
