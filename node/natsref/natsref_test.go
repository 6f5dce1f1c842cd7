package natsref

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestJetStreamServesKV starts the reference with JetStream and uses a
// bucket through nats.go, as the differential tests do.
func TestJetStreamServesKV(t *testing.T) {
	for _, sync := range []bool{false, true} {
		_, js := Connect(t, JetStream(t, sync))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "t"})
		if err != nil {
			t.Fatal(err)
		}
		rev, err := kv.Put(ctx, "k", []byte("v"))
		if err != nil || rev != 1 {
			t.Fatalf("sync %v: put: rev %d, %v", sync, rev, err)
		}
		if e, err := kv.Get(ctx, "k"); err != nil || string(e.Value()) != "v" {
			t.Fatalf("sync %v: get: %v", sync, err)
		}
	}
}

// TestStartHonoursOptions: options other than the address and logging
// pass through, and an early Shutdown leaves the cleanup nothing to trip on.
func TestStartHonoursOptions(t *testing.T) {
	ns := Start(t, server.Options{MaxPayload: 1024})
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	if got := nc.MaxPayload(); got != 1024 {
		t.Fatalf("max payload %d, want 1024", got)
	}
	nc.Close()
	if !strings.HasPrefix(ns.ClientURL(), "nats://127.0.0.1:") {
		t.Fatalf("client URL %s", ns.ClientURL())
	}
	ns.Shutdown()
}

// TestNotLinkedIntoCairn keeps the reference server out of the cairn
// binary.
func TestNotLinkedIntoCairn(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/cairnkv/cairn/cmd/cairn").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if pkg == "github.com/cairnkv/cairn/node/natsref" || pkg == "github.com/nats-io/nats-server/v2/server" {
			t.Fatalf("cmd/cairn links %s", pkg)
		}
	}
}
