package main

import (
	"context"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The built binary serves NATS clients, and what they wrote survives a
// SIGKILL and a restart on the same data directory.
func TestE2ENodeServesNATSAndKeepsDataAcrossKill(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	first := startCairn(t, childEnv(), nodeArgs(dir)...)
	url, _ := first.waitLog(t, msgStarted)["client-url"].(string)
	if url == "" {
		t.Fatal("startup line has no client-url")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "e2e", History: 3})
	if err != nil {
		t.Fatal(err)
	}
	var last uint64
	for i := 0; i < 50; i++ {
		if last, err = kv.Put(ctx, "k", []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	nc.Close()
	first.signal(t, syscall.SIGKILL)
	<-first.exited // killed: no exit status to check

	second := startCairn(t, childEnv(), nodeArgs(dir)...)
	url, _ = second.waitLog(t, msgStarted)["client-url"].(string)
	nc, err = nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ = jetstream.New(nc)
	kv, err = js.KeyValue(ctx, "e2e")
	if err != nil {
		t.Fatalf("bucket after kill and restart: %v", err)
	}
	e, err := kv.Get(ctx, "k")
	if err != nil || e.Revision() != last || e.Value()[0] != 49 {
		t.Fatalf("after restart: %v %v, want revision %d value 49", e, err, last)
	}
	second.signal(t, syscall.SIGTERM)
	if code := second.waitExit(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
}
