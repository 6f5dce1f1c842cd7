package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// rollingWriter is one client of the rolling restart: its own connection,
// preferring one node, retrying every put until it is acknowledged.
type rollingWriter struct {
	nc  *nats.Conn
	kv  jetstream.KeyValue
	ldm atomic.Int32 // lame-duck notifications received
}

// Three node processes restarted one after another with SIGTERM while
// writers put keys: each stopping node tells its clients it is going
// away (lame-duck INFO) and hands its leaderships over before it
// disconnects them, so every put is acknowledged, some after a retry,
// none fails for good, and none is lost.
func TestE2EClusterRollingRestart(t *testing.T) {
	cc := startCrashCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	urls := strings.Split(cc.urls(), ",")
	writers := make([]*rollingWriter, 3)
	for w := range writers {
		rw := &rollingWriter{}
		order := append(append([]string{}, urls[w%3:]...), urls[:w%3]...)
		nc, err := nats.Connect(strings.Join(order, ","), nats.DontRandomize(), nats.MaxReconnects(-1),
			nats.ReconnectWait(50*time.Millisecond),
			nats.LameDuckModeHandler(func(*nats.Conn) { rw.ldm.Add(1) }))
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		js, _ := jetstream.New(nc)
		if w == 0 {
			if _, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "rolling", Replicas: 3}); err != nil {
				t.Fatal(err)
			}
		}
		if rw.kv, err = js.KeyValue(ctx, "rolling"); err != nil {
			t.Fatal(err)
		}
		rw.nc = nc
		writers[w] = rw
	}

	var mu sync.Mutex
	acked := map[string]uint64{}
	var failed []string         // puts never acknowledged, retries and all
	retries := map[string]int{} // the errors retried, by text
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w, rw := range writers {
		eachUntil(&wg, stop, func(i int) {
			key := fmt.Sprintf("w%d.%d", w, i)
			rev, retried, err := putRetrying(ctx, rw.kv, key, 20*time.Second)
			mu.Lock()
			for _, e := range retried {
				retries[e]++
			}
			if err != nil {
				failed = append(failed, fmt.Sprintf("%s: %v", key, err))
			} else {
				acked[key] = rev
			}
			mu.Unlock()
		})
	}
	waitAcked := func(n int) {
		t.Helper()
		waitAckedWrites(t, &mu, acked, n)
	}
	ready := func(i int) {
		t.Helper()
		url := fmt.Sprintf("http://127.0.6.%d:28222/readyz", i+1)
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			res, err := http.Get(url)
			if err == nil {
				res.Body.Close()
				if res.StatusCode == http.StatusOK {
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("n%d not ready within 60s of its restart", i+1)
			}
		}
	}

	waitAcked(200)
	handOffs := 0
	for i := range 3 {
		// The writers connected to the node now: each must be told.
		var connected []int
		for w, rw := range writers {
			if rw.nc.ConnectedUrl() == urls[i] {
				connected = append(connected, w)
			}
		}
		before := make([]int32, len(writers))
		for w, rw := range writers {
			before[w] = rw.ldm.Load()
		}
		stopAt := time.Now()
		cc.procs[i].signal(t, syscall.SIGTERM)
		if code := cc.procs[i].waitExit(t); code != 0 {
			t.Fatalf("n%d: exit status %d after SIGTERM; stderr:\n%s", i+1, code, cc.procs[i].stderr)
		}
		cc.procs[i].waitLog(t, "lame duck: no new clients; connected clients told to move")
		cc.procs[i].waitLog(t, "refusing client requests; those in flight answered")
		if strings.Contains(cc.procs[i].stderr.String(), `"msg":"handing off leadership","reason":"shutdown"`) {
			handOffs++
		}
		for _, w := range connected {
			if writers[w].ldm.Load() == before[w] {
				t.Errorf("writer %d, connected to n%d, got no lame-duck notice", w, i+1)
			}
		}
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		waitAcked(n + 100) // the two others go on
		stopped := time.Since(stopAt)
		startAt := time.Now()
		cc.start(i)
		cc.procs[i].waitLog(t, msgStarted)
		ready(i)
		t.Logf("n%d: stopped in %s, ready %s after its start", i+1, stopped.Round(time.Millisecond), time.Since(startAt).Round(time.Millisecond))
		mu.Lock()
		n = len(acked)
		mu.Unlock()
		waitAcked(n + 100)
	}
	close(stop)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	if len(failed) > 0 {
		t.Fatalf("%d puts failed beyond retries, first: %s", len(failed), failed[0])
	}
	if handOffs == 0 {
		t.Error("no stopping node handed a leadership over")
	}
	// Every acknowledged put is there, read through a fresh connection.
	nc, err := nats.Connect(cc.urls())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	kv, err := js.KeyValue(ctx, "rolling")
	if err != nil {
		t.Fatal(err)
	}
	for key, rev := range acked {
		e, err := kv.Get(ctx, key)
		if err != nil || e.Revision() != rev {
			t.Fatalf("acknowledged %s@%d: %v %v", key, rev, e, err)
		}
	}
	t.Logf("rolling restart of 3 nodes: %d puts acknowledged, %d of 3 stops handed a leadership over; retried: %v",
		len(acked), handOffs, retries)
}

// putRetrying puts key until it is acknowledged or patience runs out,
// each try bounded by 2 s, as an application retrying errors would. It
// returns the errors it retried.
func putRetrying(ctx context.Context, kv jetstream.KeyValue, key string, patience time.Duration) (rev uint64, retried []string, err error) {
	deadline := time.Now().Add(patience)
	for {
		tctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		rev, err = kv.Put(tctx, key, []byte(key))
		cancel()
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			return rev, retried, err
		}
		retried = append(retried, err.Error())
		time.Sleep(20 * time.Millisecond)
	}
}
