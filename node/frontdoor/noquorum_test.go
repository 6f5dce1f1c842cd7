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
	nodes := startCairnCluster(t, 3, func(c *node.Config) { c.RequestTimeout = time.Second })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, js := connect(t, nodes[0].url)
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "q", Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	for _, cn := range nodes[1:] {
		_ = cn.fd.Close()
		_ = cn.n.Close()
	}
	_, err = kv.Get(ctx, "k")
	if !errors.Is(err, nats.ErrNoResponders) && !errors.Is(err, jetstream.ErrNoStreamResponse) {
		t.Fatalf("get without a quorum: %v (%T), want no responders", err, err)
	}
}
