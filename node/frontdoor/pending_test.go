package frontdoor_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cairnkv/cairn/node"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Publishes waiting for replication are bounded per node: with the
// bucket's quorum gone, the first max-pending-publishes wait (and fail
// after the request timeout), and the next is refused at once with the
// error nats-server gives when a stream's ingest queue is full (429,
// 10167), which a client can retry, rather than holding more of the node.
func TestPendingPublishesAreBounded(t *testing.T) {
	const max = 4
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	nodes, js, _ := startLostQuorum(t, ctx, func(c *node.Config) {
		c.MaxPendingPublishes = max
		c.RequestTimeout = 2 * time.Second
	})

	var acks []jetstream.PubAckFuture
	for range max {
		f, err := js.PublishAsync("$KV.q.k", []byte("waits"))
		if err != nil {
			t.Fatal(err)
		}
		acks = append(acks, f)
	}
	pending := func() int64 { p, _ := nodes[0].fd.JS.PendingPublishes(); return p }
	waitFor(t, 10*time.Second, "the publishes are pending", func() bool { return pending() == max })

	_, err := js.Publish(ctx, "$KV.q.k", []byte("refused"))
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) || apiErr.Code != 429 || apiErr.ErrorCode != 10167 || apiErr.Description != "too many requests" {
		t.Fatalf("publish past the bound: %v, want nats-server's 429 10167 too many requests", err)
	}
	// The status line, as nats-server sends it, seen by a plain request.
	nc, _ := connect(t, nodes[0].url)
	msg, err := nc.RequestWithContext(ctx, "$KV.q.k", []byte("refused too"))
	if err != nil {
		t.Fatalf("refused publish as a request: %v", err)
	}
	if msg.Header.Get("Status") != "429" || msg.Header.Get("Description") != "Too Many Requests" {
		t.Fatalf("refused publish's header: %v, want status 429 Too Many Requests", msg.Header)
	}
	if _, refused := nodes[0].fd.JS.PendingPublishes(); refused != 2 {
		t.Fatalf("%d publishes counted as refused, want 2", refused)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(nodes[0].fd.Collectors()...)
	want := `
# HELP cairn_client_publishes_pending Publishes waiting for replication on this node (bounded by max-pending-publishes).
# TYPE cairn_client_publishes_pending gauge
cairn_client_publishes_pending 4
# HELP cairn_client_publishes_refused_total Publishes refused with 429 too many requests because max-pending-publishes were already waiting.
# TYPE cairn_client_publishes_refused_total counter
cairn_client_publishes_refused_total 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "cairn_client_publishes_pending", "cairn_client_publishes_refused_total"); err != nil {
		t.Fatal(err)
	}

	// The waiting ones end with the request timeout and free their room.
	for _, f := range acks {
		select {
		case <-f.Ok():
			t.Fatal("a publish without a quorum was acknowledged")
		case err := <-f.Err():
			if err == nil {
				t.Fatal("a pending publish ended without an error")
			}
		case <-ctx.Done():
			t.Fatal("a pending publish never ended")
		}
	}
	waitFor(t, 10*time.Second, "the pending publishes are released", func() bool { return pending() == 0 })
}

// A healthy cluster flooded with asynchronous publishes past the bound
// refuses the excess with 429 and loses nothing it acknowledged: every
// acknowledged revision is in the bucket with its value, no refused
// publish is, and the room is free again once the flood has passed.
func TestPublishFloodPastTheBound(t *testing.T) {
	const max, total = 16, 3000
	nodes := startCairnCluster(t, 3, func(c *node.Config) { c.MaxPendingPublishes = max })
	ctx := ctxT(t)
	_, js := connect(t, nodes[0].url)
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "flood", Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	futures := make([]jetstream.PubAckFuture, total)
	for i := range futures {
		if futures[i], err = js.PublishAsync(fmt.Sprintf("$KV.flood.k%d", i), fmt.Appendf(nil, "v%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		t.Fatal("the flood's publishes never all ended")
	}
	acked := map[int]uint64{}
	for i, f := range futures {
		select {
		case ack := <-f.Ok():
			acked[i] = ack.Sequence
		case err := <-f.Err():
			var apiErr *jetstream.APIError
			if !errors.As(err, &apiErr) || apiErr.Code != 429 || apiErr.ErrorCode != 10167 {
				t.Fatalf("publish %d: %v, want an acknowledgement or 429 10167", i, err)
			}
		}
	}
	refused := total - len(acked)
	if refused == 0 || len(acked) == 0 {
		t.Fatalf("%d of %d publishes acknowledged: the flood should pass a bound of %d, and some should get in", len(acked), total, max)
	}
	t.Logf("%d acknowledged, %d refused", len(acked), refused)

	for i := range total {
		key := fmt.Sprintf("k%d", i)
		e, err := kv.Get(ctx, key)
		seq, ok := acked[i]
		switch {
		case ok && err != nil:
			t.Fatalf("acknowledged %s (revision %d) is gone: %v", key, seq, err)
		case ok && (e.Revision() != seq || string(e.Value()) != fmt.Sprintf("v%d", i)):
			t.Fatalf("acknowledged %s: revision %d value %q, want %d v%d", key, e.Revision(), e.Value(), seq, i)
		case !ok && !errors.Is(err, jetstream.ErrKeyNotFound):
			t.Fatalf("refused %s: %v, want key not found", key, err)
		}
	}
	var counted uint64
	for i, cn := range nodes {
		waitFor(t, 10*time.Second, fmt.Sprintf("node %d's pending publishes released", i+1), func() bool {
			p, _ := cn.fd.JS.PendingPublishes()
			return p == 0
		})
		_, r := cn.fd.JS.PendingPublishes()
		counted += r
	}
	if counted != uint64(refused) {
		t.Fatalf("nodes counted %d refusals, the client saw %d", counted, refused)
	}
}
