package main

// The cluster measurements of issue 3, run on demand (they take minutes
// and print figures rather than check them):
//
//	CAIRN_MEASURE=idle     go test ./cmd/cairn -run TestMeasureIdleCPU -v -timeout 30m
//	CAIRN_MEASURE=failover go test ./cmd/cairn -run TestMeasureFailover -v -timeout 30m
//
// Both run three `cairn node` processes on 127.0.8.x with the default
// tick (100ms) and election timeout (1s) unless CAIRN_MEASURE_ARGS adds
// node flags. Results are recorded in docs/benchmarks.md.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func measureOnly(t *testing.T, what string) {
	t.Helper()
	if os.Getenv("CAIRN_MEASURE") != what {
		t.Skipf("a measurement: run with CAIRN_MEASURE=%s", what)
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// procCluster is n `cairn node` processes on 127.0.<net>.1..n.
type procCluster struct {
	t     *testing.T
	net   int
	extra []string
	dirs  []string
	procs []*child
}

func newProcCluster(t *testing.T, net, n int, extra ...string) *procCluster {
	pc := &procCluster{t: t, net: net, extra: extra, procs: make([]*child, n)}
	for i := range n {
		pc.dirs = append(pc.dirs, filepath.Join(t.TempDir(), fmt.Sprintf("n%d", i+1)))
	}
	for i := range n {
		pc.start(i)
	}
	for i := range n {
		pc.procs[i].waitLog(t, msgStarted)
	}
	return pc
}

func (pc *procCluster) host(i int) string { return fmt.Sprintf("127.0.%d.%d", pc.net, i+1) }

func (pc *procCluster) start(i int) {
	h := pc.host(i)
	args := []string{"node", "--data-dir", pc.dirs[i], "--name", fmt.Sprintf("n%d", i+1), "--log-format", "json",
		"--client-addr", h + ":24222", "--http-addr", h + ":28222",
		"--peer-addr", h + ":26222", "--gossip-addr", h + ":27946",
		"--join", pc.host(0) + ":27946," + pc.host(1) + ":27946", "--expect", strconv.Itoa(len(pc.procs))}
	args = append(args, pc.extra...)
	args = append(args, strings.Fields(os.Getenv("CAIRN_MEASURE_ARGS"))...)
	pc.procs[i] = startCairn(pc.t, childEnv(), args...)
}

func (pc *procCluster) url(i int) string { return "nats://" + pc.host(i) + ":24222" }

func (pc *procCluster) urls() string {
	var u []string
	for i := range pc.procs {
		u = append(u, pc.url(i))
	}
	return strings.Join(u, ",")
}

func (pc *procCluster) kill(i int) {
	pc.procs[i].signal(pc.t, syscall.SIGKILL)
	<-pc.procs[i].exited
}

// cpu is the process's user+system CPU time so far, from /proc/PID/stat.
func (pc *procCluster) cpu(i int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pc.procs[i].cmd.Process.Pid))
	if err != nil {
		pc.t.Fatal(err)
	}
	// Fields after the parenthesised command name: utime is the 14th
	// field of the line, stime the 15th, in clock ticks (100 per second).
	rest := string(b[strings.LastIndexByte(string(b), ')')+2:])
	f := strings.Fields(rest)
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// leaderOf is the index of the node leading a bucket, as stream info
// reports it.
func (pc *procCluster) leaderOf(ctx context.Context, js jetstream.JetStream, bucket string) int {
	pc.t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		s, err := js.Stream(ctx, "KV_"+bucket)
		if err != nil || s.CachedInfo().Cluster == nil {
			continue
		}
		var n int
		if _, err := fmt.Sscanf(s.CachedInfo().Cluster.Leader, "n%d", &n); err == nil && n >= 1 && n <= len(pc.procs) {
			return n - 1
		}
	}
	pc.t.Fatal("no leader reported")
	return -1
}

// metric is the value of an unlabelled series on node i's /metrics.
func (pc *procCluster) metric(i int, name string) string {
	resp, err := http.Get("http://" + pc.host(i) + ":28222/metrics")
	if err != nil {
		return "?"
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return "?"
}

func (pc *procCluster) jetstream(urls string) (*nats.Conn, jetstream.JetStream) {
	nc, err := nats.Connect(urls, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		pc.t.Fatal(err)
	}
	pc.t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		pc.t.Fatal(err)
	}
	return nc, js
}

// The CPU a node spends holding many idle R3 buckets.
func TestMeasureIdleCPU(t *testing.T) {
	measureOnly(t, "idle")
	buckets := envInt("CAIRN_MEASURE_BUCKETS", 1000)
	window := time.Duration(envInt("CAIRN_MEASURE_WINDOW_S", 30)) * time.Second
	pc := newProcCluster(t, 8, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	_, js := pc.jetstream(pc.urls())

	idle := func(label string) {
		// Let the cluster settle, then measure.
		time.Sleep(10 * time.Second)
		var before []time.Duration
		for i := range pc.procs {
			before = append(before, pc.cpu(i))
		}
		start := time.Now()
		time.Sleep(window)
		el := time.Since(start)
		var parts []string
		for i := range pc.procs {
			pct := 100 * (pc.cpu(i) - before[i]).Seconds() / el.Seconds()
			parts = append(parts, fmt.Sprintf("n%d %.2f%% (groups %s, quiesced %s)", i+1, pct,
				pc.metric(i, "cairn_raft_groups"), pc.metric(i, "cairn_raft_groups_quiesced")))
		}
		t.Logf("idle CPU over %s, %s: %s (of one core)", el.Round(time.Second), label, strings.Join(parts, ", "))
	}
	idle("no buckets")

	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= buckets {
					return
				}
				name := fmt.Sprintf("idle%04d", i)
				kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: name, Replicas: 3})
				if err == nil {
					_, err = kv.Put(ctx, "k", []byte("v"))
				}
				if err != nil {
					errs <- fmt.Errorf("%s: %w", name, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("created %d R3 buckets and wrote one key to each in %s", buckets, time.Since(start).Round(time.Millisecond))
	idle(fmt.Sprintf("%d idle R3 buckets", buckets))
}

// Time from SIGKILL of a bucket's leader to the first write, begun after
// the kill, that succeeds; under load (writers running) and from idle.
func TestMeasureFailover(t *testing.T) {
	measureOnly(t, "failover")
	trials := envInt("CAIRN_MEASURE_TRIALS", 7)
	pc := newProcCluster(t, 8, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	_, js := pc.jetstream(pc.urls())
	if _, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "fo", Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	// One writer connection per node, so writers on the survivors measure
	// the cluster's failover rather than a client's reconnect.
	kvs := make([]jetstream.KeyValue, len(pc.procs))
	for i := range pc.procs {
		_, wjs := pc.jetstream(pc.url(i))
		kv, err := wjs.KeyValue(ctx, "fo")
		if err != nil {
			t.Fatal(err)
		}
		kvs[i] = kv
	}
	leaderOf := func() int { return pc.leaderOf(ctx, js, "fo") }
	// trial kills the leader and returns the time to the first write begun
	// after the kill that succeeded, through a surviving node.
	trial := func(loaded bool) time.Duration {
		leader := leaderOf()
		var killed atomic.Int64
		first := make(chan time.Time, 1)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for i, kv := range kvs {
			if i == leader {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := 0; ; n++ {
					select {
					case <-stop:
						return
					default:
					}
					k := killed.Load()
					if !loaded && k == 0 {
						time.Sleep(time.Millisecond)
						continue
					}
					wctx, wcancel := context.WithTimeout(ctx, 500*time.Millisecond)
					_, err := kv.Put(wctx, fmt.Sprintf("w%d.%d", i, n), []byte("x"))
					wcancel()
					if err == nil && k != 0 {
						select {
						case first <- time.Now():
						default:
						}
					}
				}
			}()
		}
		if loaded {
			time.Sleep(2 * time.Second)
		} else {
			time.Sleep(5 * time.Second) // idle: the group quiesces, if it does
		}
		at := time.Now()
		pc.kill(leader)
		killed.Store(at.UnixNano())
		var took time.Duration
		select {
		case ok := <-first:
			took = ok.Sub(at)
		case <-time.After(60 * time.Second):
			t.Fatal("no write succeeded within 60s of the kill")
		}
		close(stop)
		wg.Wait()
		pc.start(leader)
		pc.procs[leader].waitLog(t, msgStarted)
		// Let the restarted node catch up before the next trial.
		time.Sleep(3 * time.Second)
		return took
	}
	for _, loaded := range []bool{true, false} {
		var got []time.Duration
		for range trials {
			got = append(got, trial(loaded))
		}
		slices.Sort(got)
		label := "under load"
		if !loaded {
			label = "from idle"
		}
		t.Logf("SIGKILL of the leader to the first successful write, %s, %d trials: median %s, min %s, max %s (all: %v)",
			label, trials, got[len(got)/2].Round(time.Millisecond), got[0].Round(time.Millisecond), got[len(got)-1].Round(time.Millisecond), got)
	}
}
