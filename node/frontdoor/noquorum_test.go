package frontdoor_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cairnkv/cairn/node"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// A get from a replica that cannot reach its quorum fails as "no
// responders" (a 503 status), as a nats-server stream without a leader
// leaves a client, and never as a bad request: the client may retry, or
// try another node.
func TestGetWithoutQuorumIsNoResponders(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, _, kv := startLostQuorum(t, ctx, func(c *node.Config) { c.RequestTimeout = time.Second })
	_, err := kv.Get(ctx, "k")
	if !errors.Is(err, nats.ErrNoResponders) && !errors.Is(err, jetstream.ErrNoStreamResponse) {
		t.Fatalf("get without a quorum: %v (%T), want no responders", err, err)
	}
}

// startLostQuorum starts three nodes, creates the R3 bucket "q" with one
// key "k" through the first, then stops the other two: the first node
// keeps its replica but can no longer reach a quorum. It returns the
// nodes, and a JetStream client and the bucket through the first node.
func startLostQuorum(t *testing.T, ctx context.Context, tune func(*node.Config)) ([]*clusterNode, jetstream.JetStream, jetstream.KeyValue) {
	t.Helper()
	nodes := startCairnCluster(t, 3, tune)
	js, kv := r3Bucket(t, ctx, nodes[0].url, "q")
	for _, cn := range nodes[1:] {
		_ = cn.fd.Close()
		_ = cn.n.Close()
	}
	return nodes, js, kv
}

// A put to a replica that cannot reach its quorum is answered, once the
// node's request timeout passes, with a retryable 503 (10008) PubAck
// error, as nats-server answers when its stream has no quorum; the
// publish no longer counts against the node's pending bound.
func TestPutWithoutQuorumTimesOut(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	nodes, _, kv := startLostQuorum(t, ctx, func(c *node.Config) { c.RequestTimeout = time.Second })
	start := time.Now()
	_, err := kv.Put(ctx, "k", []byte("w"))
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) || apiErr.Code != 503 || apiErr.ErrorCode != 10008 {
		t.Fatalf("put without a quorum: %v (%T), want a 503 10008 API error", err, err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("answered after %v; the request timeout is 1s", took)
	}
	waitFor(t, 5*time.Second, "no publish pending", func() bool {
		pending, _ := nodes[0].fd.JS.PendingPublishes()
		return pending == 0
	})
}
