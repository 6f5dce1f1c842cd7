package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cairnkv/cairn/bench/report"
	"github.com/cairnkv/cairn/node"
	"github.com/cairnkv/cairn/node/frontdoor"
)

// benchNode runs a one-node cairn in-process for the bench command tests
// and returns its client URL.
func benchNode(t *testing.T) string {
	t.Helper()
	quiet := slog.New(slog.DiscardHandler)
	cfg := node.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Name = "bench-cmd-test"
	cfg.ClientAddr = "127.0.0.1:0"
	cfg.Logger = quiet
	n, err := node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	fd, err := frontdoor.Start(context.Background(), n, quiet)
	if err != nil {
		_ = n.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = fd.Close()
		_ = n.Close()
	})
	return fd.ClientURL()
}

// runBench runs `cairn ARGS` in-process.
func runBench(ctx context.Context, stdout, stderr io.Writer, args ...string) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(stderr, "cairn: %v\n", err)
		return 1
	}
	return 0
}

func TestBenchPutJSONAgainstANode(t *testing.T) {
	t.Setenv(envServer, "")
	url := benchNode(t)
	out := filepath.Join(t.TempDir(), "r.json")
	var stdout, stderr bytes.Buffer
	code := runBench(context.Background(), &stdout, &stderr,
		"bench", "put", "-s", url, "-c", "4", "-n", "200", "--warmup", "0s", "--json", "--out", out, "--progress=false")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	var res report.Result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, stdout.String())
	}
	if len(res.Runs) != 1 || res.Runs[0].Ops != 200 || res.Runs[0].Errors != 0 || res.Runs[0].Target != "cairn" {
		t.Fatalf("runs: %+v", res.Runs)
	}
	if !strings.Contains(res.Command, "--ops=200") || !strings.Contains(res.Command, "bench put") {
		t.Errorf("command %q does not repeat the run", res.Command)
	}
	if !strings.Contains(res.Targets[0].Notes, "announces NATS server version") {
		t.Errorf("target: %+v", res.Targets[0])
	}
	file, err := report.ReadFile(out)
	if err != nil || file.Runs[0].Ops != 200 {
		t.Fatalf("--out: %v", err)
	}
}

// Ctrl-C (here: the command's context ends) prints what was measured and
// exits non-zero.
func TestBenchInterruptPrintsPartialResults(t *testing.T) {
	t.Setenv(envServer, "")
	url := benchNode(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := &syncBuffer{}
	var stdout bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- runBench(ctx, &stdout, stderr, "bench", "get", "-s", url, "-c", "2", "--keyspace", "50",
			"--warmup", "0s", "-d", "1m")
	}()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(stderr.String(), "cairn get run") {
		if time.Now().After(deadline) {
			t.Fatalf("no run progress:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case code := <-done:
		if code != 1 || !strings.Contains(stdout.String(), "INTERRUPTED") || !strings.Contains(stdout.String(), "throughput") {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the run did not stop")
	}
}

func TestBenchArgumentErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"bench", "put", "--target", "redis"}, `unknown target "redis"`},
		{[]string{"bench", "mixed", "--mix", "z", "-s", "nats://127.0.0.1:1"}, `unknown YCSB mix "z"`},
		{[]string{"bench", "put", "--dist", "hotspot"}, "not uniform, zipfian or latest"},
		{[]string{"bench", "put", "--value-size", "lots", "-s", "nats://127.0.0.1:1"}, "not a byte count"},
		{[]string{"bench", "put", "-c", "0"}, "--clients must be at least 1"},
		{[]string{"bench", "compare", "--targets", "cairn,redis", "--out-dir", t.TempDir()}, `unknown target "redis"`},
		{[]string{"bench", "compare", "--workloads", "scan", "--out-dir", t.TempDir()}, `unknown workload "scan"`},
		{[]string{"bench", "compare", "--targets", "cairn,cairn", "--out-dir", t.TempDir()}, `target "cairn" given twice (use cairn-b`},
		{[]string{"bench", "compare", "--rounds", "0", "--out-dir", t.TempDir()}, "--rounds 0: need at least 1"},
		{[]string{"bench", "put", "-s", "nats://127.0.0.1:1", "--op-timeout", "1s"}, "connect"},
	} {
		var stdout, stderr bytes.Buffer
		code := runBench(context.Background(), &stdout, &stderr, tc.args...)
		if code == 0 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("cairn %s: exit %d, stderr %q, want %q", strings.Join(tc.args, " "), code, stderr.String(), tc.want)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
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

// CAIRN_BENCH_CPUPROFILE makes a node profile itself until it is stopped
// (how `bench compare --profile` profiles the nodes it starts).
func TestBenchProfileEnvWritesANodeProfile(t *testing.T) {
	prof := filepath.Join(t.TempDir(), "cpu.pprof")
	n := startCairn(t, childEnv(envCPUProfile+"="+prof), nodeArgs(filepath.Join(t.TempDir(), "data"))...)
	n.waitLog(t, msgStarted)
	n.signal(t, syscall.SIGTERM)
	if code := n.waitExit(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
	b, err := os.ReadFile(prof)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		t.Fatalf("%s is not a gzipped pprof profile (%d bytes)", prof, len(b))
	}
}

// cairn-b is a second cairn cluster, here of another size (three nodes
// with R3 buckets against one node with R1 ones, as issue 3 compares
// them): both run every round, each under its own name.
func TestBenchCompareCairnWithItself(t *testing.T) {
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	code := runBench(context.Background(), &stdout, &stderr, "bench", "compare",
		"--targets", "cairn-b,cairn", "--cairn-bin", cairnBinary(t), "--cairn-nodes", "1", "--cairn-b-nodes", "3",
		"--workloads", "put", "-c", "2", "-d", "3s", "--warmup", "0s", "--rounds", "2",
		"--idle-window", "100ms", "--progress=false", "--out-dir", out)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	res, err := report.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, run := range res.Runs {
		got = append(got, fmt.Sprintf("%d:%s:R%d", run.Round, run.Target, run.Params.Replicas))
		// Three seconds give the run phase at least two progress
		// reports a second apart, between which the CPU is measured.
		if run.Failed != "" || run.Errors != 0 || run.Ops == 0 || run.ServerCPUPerOpUS <= 0 {
			t.Errorf("run %+v", run)
		}
	}
	if want := "1:cairn-b:R3 1:cairn:R1 2:cairn:R1 2:cairn-b:R3"; strings.Join(got, " ") != want {
		t.Fatalf("runs %v, want %s", got, want)
	}
	if len(res.Targets) != 2 || res.Targets[0].Nodes != 3 || res.Targets[1].Nodes != 1 ||
		!strings.Contains(res.Targets[0].Notes, "placed on 3 nodes") {
		t.Fatalf("targets %+v", res.Targets)
	}
	if !strings.Contains(stdout.String(), "| put |") || !strings.Contains(stdout.String(), "2 rounds)") ||
		!strings.Contains(stdout.String(), "cairn-b server CPU per op") {
		t.Fatalf("table:\n%s", stdout.String())
	}
}
