package frontdoor_test

import (
	"bufio"
	"context"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cairnkv/cairn/node"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// A client given one node's URL learns the others from INFO
// (connect_urls), like a client of a nats-server cluster, and when that
// node goes away it reconnects to another and goes on with the bucket.
func TestClusterClientsLearnEveryNode(t *testing.T) {
	nodes := startCairnCluster(t, 3)
	nc, err := nats.Connect(nodes[0].url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	waitFor(t, 10*time.Second, "the client discovers the other two nodes", func() bool {
		found := nc.DiscoveredServers()
		return slices.Contains(found, nodes[1].url) && slices.Contains(found, nodes[2].url)
	})

	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "learn", Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "k", []byte("before")); err != nil {
		t.Fatal(err)
	}

	_ = nodes[0].fd.Close()
	_ = nodes[0].n.Close()
	waitFor(t, 20*time.Second, "the client reconnects to a surviving node", func() bool {
		u := nc.ConnectedUrl()
		return nc.IsConnected() && (u == nodes[1].url || u == nodes[2].url)
	})
	// Writes may wait for a new leader if the closed node led the bucket.
	var rev uint64
	waitFor(t, 20*time.Second, "a put through the node it reconnected to", func() bool {
		rev, err = kv.Put(ctx, "k", []byte("after"))
		return err == nil
	})
	if e, err := kv.Get(ctx, "k"); err != nil || string(e.Value()) != "after" || e.Revision() != rev {
		t.Fatalf("get after failover: %v, %v", e, err)
	}
}

// With no-advertise, INFO names no other node even once every node's
// client address is known.
func TestClusterNoAdvertise(t *testing.T) {
	nodes := startCairnCluster(t, 3, func(c *node.Config) { c.NoAdvertise = true })
	waitFor(t, 10*time.Second, "every node's client address in gossip", func() bool {
		addrs, _ := nodes[0].n.ClientAddrs()
		return len(addrs) == 3
	})
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(nodes[0].url, "nats://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	info, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(info, "INFO {") || strings.Contains(info, "connect_urls") {
		t.Fatalf("INFO with no-advertise: %s", info)
	}
}
