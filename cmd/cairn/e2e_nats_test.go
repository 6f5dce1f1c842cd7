package main

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
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

// The built binary serves the HTTP API: health, REST KV and metrics from
// every layer.
func TestE2ENodeServesHTTP(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	c := startCairn(t, childEnv(), nodeArgs(dir)...)
	rec := c.waitLog(t, msgStarted)
	base, _ := rec["http-url"].(string)
	if base == "" {
		t.Fatalf("startup line has no http-url: %v", rec)
	}
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Fatalf("/healthz: %d", code)
	}
	req, _ := http.NewRequest(http.MethodPut, base+"/v1/buckets/web", strings.NewReader(`{"history":2}`))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("create bucket: %v %v", resp, err)
	}
	req, _ = http.NewRequest(http.MethodPut, base+"/v1/kv/web/a/b", strings.NewReader("hello"))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("put: %v %v", resp, err)
	}
	if code, body := get("/v1/kv/web/a/b"); code != 200 || body != "hello" {
		t.Fatalf("get: %d %q", code, body)
	}
	code, metrics := get("/metrics")
	for _, series := range []string{"cairn_raft_proposals_total", "cairn_storage_bytes", "cairn_client_connections", "cairn_bucket_messages"} {
		if code != 200 || !strings.Contains(metrics, series) {
			t.Fatalf("/metrics (%d) lacks %s", code, series)
		}
	}
	c.signal(t, syscall.SIGTERM)
	if code := c.waitExit(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
}
