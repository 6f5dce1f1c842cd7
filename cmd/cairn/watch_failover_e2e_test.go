package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// A watch served by one node goes on from its last revision through
// another node after the first is SIGKILLed: an unmodified nats.go
// watcher reconnects, its ordered consumer is re-created on the new node
// from the next revision, and it sees every revision of the bucket
// exactly once, in order.
func TestE2EWatchAcrossNodeKill(t *testing.T) {
	cc := startCrashCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	urls := strings.Split(cc.urls(), ",")
	connect := func(order ...int) jetstream.JetStream {
		var u []string
		for _, i := range order {
			u = append(u, urls[i])
		}
		nc, err := nats.Connect(strings.Join(u, ","), nats.DontRandomize(), nats.MaxReconnects(-1),
			nats.ReconnectWait(50*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		return js
	}
	// The writer prefers the survivors; the watcher is served by node 1.
	wjs := connect(1, 2, 0)
	kv, err := wjs.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "watched", Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	watchKV, err := connect(0, 1, 2).KeyValue(ctx, "watched")
	if err != nil {
		t.Fatal(err)
	}
	w, err := watchKV.WatchAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	select {
	case e := <-w.Updates():
		if e != nil {
			t.Fatalf("first update of an empty bucket: %v, want the initial-values marker", e)
		}
	case <-ctx.Done():
		t.Fatal("no initial-values marker")
	}

	// Writes go on before, during and after the kill, each to a key of its
	// own so that no revision is rolled off by the history limit before
	// the watcher resumes (it could not be delivered then, by nats-server
	// either). A put that fails
	// is retried; one whose outcome was unknown may then be stored twice,
	// which is fine: the watcher is checked against the bucket itself.
	const writes, killAt = 400, 100
	var last uint64
	for i := range writes {
		if i == killAt {
			cc.kill(0)
		}
		for attempt := 0; ; attempt++ {
			pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
			rev, err := kv.Put(pctx, fmt.Sprintf("k.%d", i), []byte(fmt.Sprint(i)))
			pcancel()
			if err == nil {
				last = rev
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("put %d: %v (after %d attempts)", i, err, attempt+1)
			}
		}
	}

	// The watcher must see revisions 1..last, each once, in order.
	var next uint64 = 1
	for next <= last {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				t.Fatalf("watch closed at revision %d of %d", next-1, last)
			}
			if e == nil {
				t.Fatalf("a second initial-values marker after revision %d", next-1)
			}
			if e.Revision() != next {
				t.Fatalf("watch delivered revision %d, want %d (a gap or a duplicate)", e.Revision(), next)
			}
			next++
		case <-ctx.Done():
			t.Fatalf("watch stalled at revision %d of %d after node 1 was killed", next-1, last)
		}
	}
	t.Logf("watcher saw all %d revisions in order across the SIGKILL of the node serving it", last)
}
