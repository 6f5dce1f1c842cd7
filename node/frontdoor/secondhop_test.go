package frontdoor_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// A node forwards a request for a bucket it holds no replica of at most
// once: a request or publish that another node forwarded to it (its
// reply subject is a forwarder's inbox) and that it cannot serve itself
// gets a 503, never a second hop. Without this, two nodes whose
// registries disagree about where a bucket lives passed a request back
// and forth until one ran out of memory (a 5-node chaos run during a
// member change).
func TestForwardedRequestIsNotForwardedAgain(t *testing.T) {
	nodes := startCairnCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nc, err := nats.Connect(nodes[0].url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "solo", Replicas: 1})
	if err != nil {
		t.Fatal(err)
	}
	var far *clusterNode
	for _, cn := range nodes {
		if _, local, ok := cn.n.Locate("solo"); ok && !local {
			far = cn
			break
		}
	}
	if far == nil {
		t.Fatal("every node holds the R1 bucket")
	}
	fc, err := nats.Connect(far.url)
	if err != nil {
		t.Fatal(err)
	}
	defer fc.Close()
	// Through the node without a replica, a client's own requests are
	// forwarded once and served.
	fjs, _ := jetstream.New(fc)
	fkv, err := fjs.KeyValue(ctx, "solo")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fkv.Put(ctx, "direct", []byte("1")); err != nil {
		t.Fatalf("a client's put through a node without a replica: %v", err)
	}

	replies, err := fc.SubscribeSync("_CAIRN_FWD.test.*")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ subject, reply, data string }{
		{"$JS.API.STREAM.INFO.KV_solo", "_CAIRN_FWD.test.info", ""},
		{"$KV.solo.hopped", "_CAIRN_FWD.test.put", "2"},
	} {
		if err := fc.PublishRequest(tc.subject, tc.reply, []byte(tc.data)); err != nil {
			t.Fatal(err)
		}
		// nats.go reports a bare 503 status as "no responders".
		msg, err := replies.NextMsg(10 * time.Second)
		if !errors.Is(err, nats.ErrNoResponders) {
			t.Fatalf("%s as a forwarded message: got %+v, %v; want a bare 503 (no responders)", tc.subject, msg, err)
		}
	}
	if _, err := kv.Get(ctx, "hopped"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("the refused forwarded put was stored: %v", err)
	}
}
