package frontdoor_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cairnkv/cairn/node"
	"github.com/cairnkv/cairn/node/frontdoor"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// clusterNode is one node of an in-process cluster with its front door.
type clusterNode struct {
	n   *node.Node
	fd  *frontdoor.FrontDoors
	url string
}

// startCairnCluster runs size nodes on 127.0.3.x, talking over real
// sockets, each with its NATS front door.
func startCairnCluster(t testing.TB, size int, tune ...func(*node.Config)) []*clusterNode {
	t.Helper()
	type started struct {
		i   int
		n   *node.Node
		err error
	}
	ch := make(chan started, size)
	for i := 1; i <= size; i++ {
		cfg := node.DefaultConfig()
		cfg.Name = fmt.Sprintf("n%d", i)
		cfg.DataDir = t.TempDir()
		cfg.ClientAddr = fmt.Sprintf("127.0.3.%d:0", i)
		cfg.PeerAddr = fmt.Sprintf("127.0.3.%d:16222", i)
		cfg.GossipAddr = fmt.Sprintf("127.0.3.%d:17946", i)
		cfg.Join = []string{"127.0.3.1:17946", "127.0.3.2:17946"}
		cfg.Expect = size
		cfg.TickInterval = 20 * time.Millisecond
		cfg.ElectionTimeout = 200 * time.Millisecond
		cfg.Logger = quiet
		for _, f := range tune {
			f(&cfg)
		}
		go func(i int, cfg node.Config) {
			n, err := node.New(cfg)
			ch <- started{i, n, err}
		}(i, cfg)
	}
	nodes := make([]*clusterNode, size)
	for range size {
		s := <-ch
		if s.err != nil {
			t.Fatalf("node %d: %v", s.i, s.err)
		}
		fd, err := frontdoor.Start(context.Background(), s.n, quiet)
		if err != nil {
			t.Fatal(err)
		}
		nodes[s.i-1] = &clusterNode{n: s.n, fd: fd, url: fd.ClientURL()}
	}
	t.Cleanup(func() {
		for _, cn := range nodes {
			_ = cn.fd.Close()
		}
		for _, cn := range nodes {
			_ = cn.n.Close()
		}
	})
	return nodes
}

// holders counts the nodes that hold a replica of bucket name.
func holders(nodes []*clusterNode, name string) int {
	n := 0
	for _, cn := range nodes {
		if _, local, _ := cn.n.Locate(name); local {
			n++
		}
	}
	return n
}

// Every KV call works through every node, whichever node holds the
// bucket, and a read right after a write on another node sees it.
func TestClusterAnyNodeServesAnyBucket(t *testing.T) {
	nodes := startCairnCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var kvs []jetstream.KeyValue
	var conns []*nats.Conn
	for i, cn := range nodes {
		nc, js := connect(t, cn.url)
		conns = append(conns, nc)
		if i == 0 {
			if _, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "one", History: 5,
				RePublish: &jetstream.RePublish{Source: ">", Destination: "repub.>"}}); err != nil {
				t.Fatal(err)
			}
		}
		kv, err := js.KeyValue(ctx, "one")
		if err != nil {
			t.Fatalf("bucket through node %d: %v", i+1, err)
		}
		kvs = append(kvs, kv)
	}
	if h := holders(nodes, "one"); h != 1 {
		t.Fatalf("R1 bucket held by %d nodes", h)
	}
	// A republish reaches subscribers on every node.
	var subs []*nats.Subscription
	for _, nc := range conns {
		sub, err := nc.SubscribeSync("repub.>")
		if err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		subs = append(subs, sub)
	}
	// A watch through a node that does not hold the bucket.
	w, err := kvs[2].WatchAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if e := <-w.Updates(); e != nil {
		t.Fatalf("initial marker: %v", e)
	}
	for i := range 30 {
		writer, reader := kvs[i%3], kvs[(i+1)%3]
		key := fmt.Sprintf("k.%d", i%5)
		rev, err := writer.Put(ctx, key, []byte(fmt.Sprint(i)))
		if err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
		e, err := reader.Get(ctx, key)
		if err != nil || e.Revision() != rev || string(e.Value()) != fmt.Sprint(i) {
			t.Fatalf("get %s right after put rev %d: %v %v", key, rev, e, err)
		}
		select {
		case u := <-w.Updates():
			if u == nil || u.Revision() != rev {
				t.Fatalf("watch got %v, want revision %d", u, rev)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("watch: no update for revision %d", rev)
		}
	}
	for i, sub := range subs {
		if _, err := sub.NextMsg(10 * time.Second); err != nil {
			t.Fatalf("republish on node %d: %v", i+1, err)
		}
	}
	// The rest of the API through a non-holding node.
	h, err := kvs[1].History(ctx, "k.0")
	if err != nil || len(h) != 5 {
		t.Fatalf("history: %d %v", len(h), err)
	}
	keys, err := kvs[2].ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for k := range keys.Keys() {
		got = append(got, k)
	}
	slices.Sort(got)
	if len(got) != 5 {
		t.Fatalf("keys %v", got)
	}
	if _, err := kvs[1].Update(ctx, "k.0", []byte("x"), 1); !errors.Is(err, jetstream.ErrKeyExists) {
		t.Fatalf("update with a wrong revision: %v", err)
	}
	if err := kvs[2].Delete(ctx, "k.1"); err != nil {
		t.Fatal(err)
	}
	if _, err := kvs[0].Get(ctx, "k.1"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
	st, err := kvs[1].Status(ctx)
	if err != nil || st.Bucket() != "one" {
		t.Fatalf("status: %v", err)
	}
	// Bucket listing and deletion from any node.
	_, js := connect(t, nodes[1].url)
	names := js.KeyValueStoreNames(ctx)
	var listed []string
	for nm := range names.Name() {
		listed = append(listed, nm)
	}
	if !slices.Equal(listed, []string{"one"}) {
		t.Fatalf("names %v", listed)
	}
	if err := js.DeleteKeyValue(ctx, "one"); err != nil {
		t.Fatal(err)
	}
	if _, err := kvs[2].Get(ctx, "k.0"); err == nil {
		t.Fatal("get after the bucket was deleted succeeded")
	}
}

// A bucket created through one node is usable through every other node
// the moment the create returns, though their registries learn of it a
// little later: a node that does not know a bucket asks the meta group
// before it answers "not found".
func TestClusterBucketCreatedElsewhereIsFoundAtOnce(t *testing.T) {
	nodes := startCairnCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var jss []jetstream.JetStream
	for _, cn := range nodes {
		_, js := connect(t, cn.url)
		jss = append(jss, js)
	}
	for i := range 30 {
		name := fmt.Sprintf("fresh%d", i)
		creator, user := jss[i%3], jss[(i+1)%3]
		if _, err := creator.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: name, Replicas: 1 + 2*(i%2)}); err != nil {
			t.Fatal(err)
		}
		kv, err := user.KeyValue(ctx, name)
		if err != nil {
			t.Fatalf("bucket %s through another node right after its creation: %v", name, err)
		}
		rev, err := kv.Put(ctx, "k", []byte("v"))
		if err != nil {
			t.Fatalf("put into %s through another node right after its creation: %v", name, err)
		}
		if e, err := kv.Get(ctx, "k"); err != nil || e.Revision() != rev {
			t.Fatalf("get from %s: %v %v", name, e, err)
		}
	}
	// A bucket that exists nowhere is still not found.
	if _, err := jss[1].KeyValue(ctx, "nowhere"); !errors.Is(err, jetstream.ErrBucketNotFound) {
		t.Fatalf("unknown bucket: %v", err)
	}
}
