package frontdoor_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// A request is forwarded at most twice. A node without a replica
// forwards what another node forwarded to it once more (a registered
// replica whose group is not running does that), but never a request
// that has already been forwarded twice (its reply subject is a
// second-hop forwarder's inbox): that gets a 503. Without a bound, two
// nodes whose registries disagreed about where a bucket lives passed a
// request back and forth until one ran out of memory (a 5-node chaos run
// during a member change); with no second hop, a client could not reach
// a bucket while the replica its node forwarded to had no group running.
func TestForwardingHopsAreBounded(t *testing.T) {
	nodes := startCairnCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, js := connect(t, nodes[0].url)
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
	fc, fjs := connect(t, far.url)
	// Through the node without a replica, a client's own requests are
	// forwarded once and served.
	fkv, err := fjs.KeyValue(ctx, "solo")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fkv.Put(ctx, "direct", []byte("1")); err != nil {
		t.Fatalf("a client's put through a node without a replica: %v", err)
	}

	// A first hop's request may go on once more, and is served.
	first, err := fc.SubscribeSync("_CAIRN_FWD.test.*")
	if err != nil {
		t.Fatal(err)
	}
	if err := fc.PublishRequest("$KV.solo.second", "_CAIRN_FWD.test.put", []byte("2")); err != nil {
		t.Fatal(err)
	}
	if msg, err := first.NextMsg(10 * time.Second); err != nil || !strings.Contains(string(msg.Data), `"seq"`) {
		t.Fatalf("a publish on its second hop: got %+v, %v; want a PubAck", msg, err)
	}
	if _, err := kv.Get(ctx, "second"); err != nil {
		t.Fatalf("the publish on its second hop was not stored: %v", err)
	}

	// A push consumer (a watch) created on its second hop is relayed
	// through both nodes: a client whose inbox looks like a first-hop
	// forwarder's stands in for the node that forwarded it.
	_, hjs := connect(t, far.url, nats.CustomInboxPrefix("_CAIRN_FWD.test"))
	hkv, err := hjs.KeyValue(ctx, "solo")
	if err != nil {
		t.Fatal(err)
	}
	w, err := hkv.Watch(ctx, "watched")
	if err != nil {
		t.Fatalf("a watch on its second hop: %v", err)
	}
	defer func() { _ = w.Stop() }()
	if _, err := kv.Put(ctx, "watched", []byte("seen")); err != nil {
		t.Fatal(err)
	}
	seen := false
	for e := range w.Updates() { // closed when ctx ends
		if e != nil {
			if string(e.Value()) != "seen" {
				t.Fatalf("a watch on its second hop got %q", e.Value())
			}
			seen = true
			break
		}
	}
	if !seen {
		t.Fatal("a watch on its second hop never saw the put")
	}

	// Its flow control is relayed too: a replay of more than the
	// flow-control window stalls unless the client's answers to the
	// consumer's flow-control requests get through both nodes.
	const bigKeys, bigSize = 80, 64 << 10 // 5 MiB, beyond fcWindow (4 MiB)
	big := make([]byte, bigSize)
	for i := range bigKeys {
		if _, err := kv.Put(ctx, fmt.Sprintf("big.%d", i), big); err != nil {
			t.Fatal(err)
		}
	}
	bw, err := hkv.Watch(ctx, "big.*")
	if err != nil {
		t.Fatalf("a large watch on its second hop: %v", err)
	}
	defer func() { _ = bw.Stop() }()
	got := 0
	for e := range bw.Updates() { // closed when ctx ends
		if e == nil {
			break // the replay is complete
		}
		got++
	}
	if got != bigKeys {
		t.Fatalf("a watch on its second hop replayed %d of %d large values (flow control not relayed?)", got, bigKeys)
	}

	// A second hop's request goes no further.
	replies, err := fc.SubscribeSync("_CAIRN_FWD2.test.*")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ subject, reply, data string }{
		{"$JS.API.STREAM.INFO.KV_solo", "_CAIRN_FWD2.test.info", ""},
		{"$KV.solo.hopped", "_CAIRN_FWD2.test.put", "3"},
	} {
		if err := fc.PublishRequest(tc.subject, tc.reply, []byte(tc.data)); err != nil {
			t.Fatal(err)
		}
		// nats.go reports a bare 503 status as "no responders".
		msg, err := replies.NextMsg(10 * time.Second)
		if !errors.Is(err, nats.ErrNoResponders) {
			t.Fatalf("%s on a third hop: got %+v, %v; want a bare 503 (no responders)", tc.subject, msg, err)
		}
	}
	if _, err := kv.Get(ctx, "hopped"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("the refused publish was stored: %v", err)
	}
}
