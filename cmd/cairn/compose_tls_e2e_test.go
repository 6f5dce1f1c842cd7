package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestE2EComposeTLS starts the compose cluster with docker-compose.tls.yml
// on top: the tls service makes a CA and the nodes' certificate into
// CAIRN_TLS_DIR, the nodes start with TLS on the client ports and the
// peer port, and their health checks (cairn health with the node's own
// CA) pass. From the host, a client that trusts the CA writes through one
// node and reads through the others (requests forwarded over TLS, raft
// over peer TLS); one that does not trust it is refused.
func TestE2EComposeTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds an image and runs containers; skipped in -short mode")
	}
	tlsDir := t.TempDir()
	e := newComposeEnv(t, "cairn-e2e-tls-", "docker-compose.tls.yml")
	e.env = append(e.env, "CAIRN_TLS_DIR="+tlsDir)
	ctx := e.ctx
	e.up()
	e.waitHealthy(composeServices...)
	for _, f := range []string{"ca.pem", "ca-key.pem", "node.pem", "node-key.pem"} {
		if _, err := os.Stat(filepath.Join(tlsDir, f)); err != nil {
			t.Fatalf("the tls service did not make %s: %v", f, err)
		}
	}

	ca := nats.RootCAs(filepath.Join(tlsDir, "ca.pem"))
	connect := func(i int, opts ...nats.Option) (jetstream.JetStream, error) {
		nc, err := nats.Connect(fmt.Sprintf("tls://127.0.0.1:%d", e.client[i]), opts...)
		if err != nil {
			return nil, err
		}
		t.Cleanup(nc.Close)
		return jetstream.New(nc)
	}
	js, err := connect(0, ca)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "e2etls", Replicas: 3})
	if err != nil {
		t.Fatalf("creating an R3 bucket over TLS: %v", err)
	}
	rev, err := kv.Put(ctx, "hello", []byte("world"))
	if err != nil {
		t.Fatalf("put: %v", err)
	}
	for i := 1; i < len(composeServices); i++ {
		js, err := connect(i, ca)
		if err != nil {
			t.Fatal(err)
		}
		kv, err := js.KeyValue(ctx, "e2etls")
		if err != nil {
			t.Fatalf("bucket through %s: %v", composeServices[i], err)
		}
		if got, err := kv.Get(ctx, "hello"); err != nil || got.Revision() != rev {
			t.Fatalf("get through %s: %v %v", composeServices[i], got, err)
		}
	}
	if _, err := connect(0); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("a client without the CA: %v", err)
	}
}
