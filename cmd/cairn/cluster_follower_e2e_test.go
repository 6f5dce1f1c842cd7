package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Three node processes. A follower is SIGKILLed, 10,000 writes are
// acknowledged without it, and when it restarts its replica catches up:
// every acknowledged write is read back through it alone. Then, once the
// bucket is idle (its group quiesced: nobody heartbeats), the leader is
// SIGKILLed: its followers, which hear nothing either way, must still
// find out and elect, so writes through a survivor resume.
func TestE2EClusterFollowerDownCatchesUp(t *testing.T) {
	pc := newProcCluster(t, 7, 3, "--tick-interval", "50ms", "--election-timeout", "500ms")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	_, js := pc.jetstream(pc.urls())
	if _, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "fol", Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	leader := pc.leaderOf(ctx, js, "fol")
	follower := (leader + 1) % 3
	pc.kill(follower)

	// 10,000 writes through the leader's node, 8 writers.
	_, ljs := pc.jetstream(pc.url(leader))
	kv, err := ljs.KeyValue(ctx, "fol")
	if err != nil {
		t.Fatal(err)
	}
	const writes, writers = 10000, 8
	acked := make([]uint64, writes)
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < writes; i += writers {
				rev, err := putRetryingUnavailable(ctx, kv, "k."+strconv.Itoa(i), []byte(strconv.Itoa(i)))
				if err != nil {
					errs <- fmt.Errorf("put %d with a follower down: %w", i, err)
					return
				}
				acked[i] = rev
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var last uint64
	for _, rev := range acked {
		last = max(last, rev)
	}

	pc.start(follower)
	pc.procs[follower].waitLog(t, msgStarted)
	started := time.Now()
	_, fjs := pc.jetstream(pc.url(follower))
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if st, err := fjs.Stream(ctx, "KV_fol"); err == nil && st.CachedInfo().State.LastSeq >= last {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the restarted follower did not reach revision %d within 60s", last)
		}
	}
	t.Logf("the restarted follower caught up on %d writes %s after it started", writes, time.Since(started).Round(time.Millisecond))
	fkv, err := fjs.KeyValue(ctx, "fol")
	if err != nil {
		t.Fatal(err)
	}
	for i, rev := range acked {
		e, err := fkv.Get(ctx, "k."+strconv.Itoa(i))
		if err != nil || e.Revision() != rev {
			t.Fatalf("through the restarted follower: k.%d@%d: %v %v", i, rev, e, err)
		}
	}

	// Idle: every group on every node quiesces.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		quiet := true
		for i := range pc.procs {
			quiet = quiet && pc.metric(i, "cairn_raft_groups") == pc.metric(i, "cairn_raft_groups_quiesced")
		}
		if quiet {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("groups did not quiesce within 30s of the writes")
		}
	}
	leader = pc.leaderOf(ctx, js, "fol")
	survivor := (leader + 1) % 3
	_, sjs := pc.jetstream(pc.url(survivor))
	skv, err := sjs.KeyValue(ctx, "fol")
	if err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	pc.kill(leader)
	for deadline := time.Now().Add(30 * time.Second); ; {
		wctx, wcancel := context.WithTimeout(ctx, time.Second)
		_, err := skv.Put(wctx, "after", []byte("x"))
		wcancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no write through a survivor within 30s of killing the idle leader: %v", err)
		}
	}
	t.Logf("after SIGKILL of the quiesced bucket's leader, a write through a survivor succeeded in %s", time.Since(killed).Round(time.Millisecond))
}

// putRetryingUnavailable puts, and puts again while cairn answers that the
// cluster is unavailable (503, JetStream error 10008: an election is
// going on, or one ended while the put was in flight and its outcome is
// unknown), as a client of a NATS cluster does. On two loaded cores with
// the race detector an election can start even with a quorum up. A put
// whose first attempt was applied too only gets a later revision, which
// is the one returned.
func putRetryingUnavailable(ctx context.Context, kv jetstream.KeyValue, key string, value []byte) (uint64, error) {
	for attempt := 1; ; attempt++ {
		rev, err := kv.Put(ctx, key, value)
		var apiErr *jetstream.APIError
		if err == nil || attempt == 5 || !errors.As(err, &apiErr) || apiErr.ErrorCode != 10008 {
			return rev, err
		}
		select {
		case <-ctx.Done():
			return 0, err
		case <-time.After(time.Duration(attempt) * 100 * time.Millisecond):
		}
	}
}
