package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// crashCluster runs three `cairn node` processes on 127.0.6.x.
type crashCluster struct {
	t     *testing.T
	dirs  []string
	procs []*child
}

func crashNodeArgs(i int, dir string) []string {
	host := fmt.Sprintf("127.0.6.%d", i+1)
	return []string{"node", "--data-dir", dir, "--name", fmt.Sprintf("n%d", i+1), "--log-format", "json",
		"--client-addr", host + ":24222", "--http-addr", host + ":28222",
		"--peer-addr", host + ":26222", "--gossip-addr", host + ":27946",
		"--join", "127.0.6.1:27946,127.0.6.2:27946", "--expect", "3",
		"--tick-interval", "50ms", "--election-timeout", "500ms"}
}

// startCrashCluster starts the three nodes and waits until each is up.
func startCrashCluster(t *testing.T) *crashCluster {
	cc := &crashCluster{t: t, procs: make([]*child, 3)}
	for i := range 3 {
		cc.dirs = append(cc.dirs, filepath.Join(t.TempDir(), fmt.Sprintf("n%d", i+1)))
		cc.start(i)
	}
	for i := range 3 {
		cc.procs[i].waitLog(t, msgStarted)
	}
	return cc
}

func (cc *crashCluster) start(i int) {
	cc.procs[i] = startCairn(cc.t, childEnv(), crashNodeArgs(i, cc.dirs[i])...)
}

func (cc *crashCluster) urls() string {
	var u []string
	for i := range cc.procs {
		u = append(u, fmt.Sprintf("nats://127.0.6.%d:24222", i+1))
	}
	return strings.Join(u, ",")
}

// waitAckedWrites waits (60 s at most) until acked, guarded by mu, holds
// n writes.
func waitAckedWrites(t *testing.T, mu *sync.Mutex, acked map[string]uint64, n int) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		mu.Lock()
		got := len(acked)
		mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d writes acknowledged", got, n)
		}
	}
}

// eachUntil runs body(0), body(1), ... on a goroutine counted in wg
// until stop is closed.
func eachUntil(wg *sync.WaitGroup, stop <-chan struct{}, body func(i int)) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			body(i)
		}
	}()
}

// kill sends SIGKILL and waits for the process to be gone.
func (cc *crashCluster) kill(i int) {
	cc.procs[i].signal(cc.t, syscall.SIGKILL)
	<-cc.procs[i].exited
}

// Three node processes; the bucket leader is SIGKILLed under load. No
// acknowledged write is lost, writes resume on the survivors (the time it
// took is logged), and the killed node, restarted, catches up; so does a
// follower killed while writes go on.
func TestE2EClusterLeaderKilled(t *testing.T) {
	cc := startCrashCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	nc, err := nats.Connect(cc.urls(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	_, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "crash", Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	leaderOf := func() int {
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			s, err := js.Stream(ctx, "KV_crash")
			if err != nil || s.CachedInfo().Cluster == nil {
				continue
			}
			var n int
			if _, err := fmt.Sscanf(s.CachedInfo().Cluster.Leader, "n%d", &n); err == nil && n >= 1 && n <= 3 {
				return n - 1
			}
		}
		t.Fatal("no leader reported")
		return -1
	}

	// Writers: unique keys, every acknowledged revision recorded.
	var mu sync.Mutex
	acked := map[string]uint64{}
	var killedAt, resumedAt time.Time // resumedAt: first write begun after the kill to succeed
	var failures int
	stop := make(chan struct{})
	var wg sync.WaitGroup
	// Each writer has its own connection, preferring a different node, so
	// writers on the survivors measure the cluster's failover rather than
	// a client's reconnect.
	writerKV := make([]jetstream.KeyValue, 6)
	for w := range writerKV {
		urls := strings.Split(cc.urls(), ",")
		urls = append(urls[w%3:], urls[:w%3]...)
		wnc, err := nats.Connect(strings.Join(urls, ","), nats.DontRandomize(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		defer wnc.Close()
		wjs, _ := jetstream.New(wnc)
		if writerKV[w], err = wjs.KeyValue(ctx, "crash"); err != nil {
			t.Fatal(err)
		}
	}
	for w := range writerKV {
		kv := writerKV[w]
		eachUntil(&wg, stop, func(i int) {
			key := fmt.Sprintf("w%d.%d", w, i)
			begun := time.Now()
			wctx, wcancel := context.WithTimeout(ctx, 2*time.Second)
			rev, err := kv.Put(wctx, key, []byte(key))
			wcancel()
			mu.Lock()
			if err == nil {
				acked[key] = rev
				if !killedAt.IsZero() && begun.After(killedAt) && resumedAt.IsZero() {
					resumedAt = time.Now()
				}
			} else {
				failures++
			}
			mu.Unlock()
		})
	}
	waitAcked := func(n int) {
		t.Helper()
		waitAckedWrites(t, &mu, acked, n)
	}
	waitAcked(300)
	leader := leaderOf()
	mu.Lock()
	killedAt = time.Now()
	mu.Unlock()
	cc.kill(leader)
	// The first write begun after the kill that succeeds.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		mu.Lock()
		resumed := resumedAt
		mu.Unlock()
		if !resumed.IsZero() {
			t.Logf("writes resumed %s after SIGKILL of the leader n%d (election timeout 500ms)", resumed.Sub(killedAt).Round(time.Millisecond), leader+1)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("writes did not resume within 30s of killing the leader")
		}
	}
	mu.Lock()
	n := len(acked)
	mu.Unlock()
	waitAcked(n + 300)
	cc.start(leader)
	cc.procs[leader].waitLog(t, msgStarted)

	// A follower killed while writes go on, then restarted.
	follower := (leader + 1) % 3
	cc.kill(follower)
	mu.Lock()
	n = len(acked)
	mu.Unlock()
	waitAcked(n + 1000)
	cc.start(follower)
	cc.procs[follower].waitLog(t, msgStarted)
	close(stop)
	wg.Wait()

	// Every acknowledged write is there, read through each node; and each
	// restarted node's own replica has caught up to the last revision.
	mu.Lock()
	defer mu.Unlock()
	var maxRev uint64
	for _, rev := range acked {
		maxRev = max(maxRev, rev)
	}
	for i := range 3 {
		one, err := nats.Connect(fmt.Sprintf("nats://127.0.6.%d:24222", i+1))
		if err != nil {
			t.Fatal(err)
		}
		defer one.Close()
		ojs, _ := jetstream.New(one)
		okv, err := ojs.KeyValue(ctx, "crash")
		if err != nil {
			t.Fatalf("node %d: %v", i+1, err)
		}
		missing := 0
		for key, rev := range acked {
			e, err := okv.Get(ctx, key)
			if err != nil || e.Revision() != rev {
				missing++
				if missing < 5 {
					t.Errorf("node %d: acknowledged %s@%d: %v %v", i+1, key, rev, e, err)
				}
			}
		}
		if missing > 0 {
			t.Fatalf("node %d: %d of %d acknowledged writes missing", i+1, missing, len(acked))
		}
		st, err := ojs.Stream(ctx, "KV_crash")
		if err != nil {
			t.Fatal(err)
		}
		if last := st.CachedInfo().State.LastSeq; last < maxRev {
			t.Fatalf("node %d: last revision %d, acknowledged up to %d", i+1, last, maxRev)
		}
	}
	t.Logf("%d writes acknowledged, %d failed (during failover), none lost", len(acked), failures)
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatal("test ran out of time")
	}
}
