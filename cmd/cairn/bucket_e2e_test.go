package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// e2eNode is a `cairn node` child with its NATS client and HTTP URLs.
type e2eNode struct {
	client, http string
	js           jetstream.JetStream
}

func startE2ENode(t *testing.T) e2eNode {
	t.Helper()
	c := startCairn(t, childEnv(), nodeArgs(filepath.Join(t.TempDir(), "data"))...)
	rec := c.waitLog(t, msgStarted)
	n := e2eNode{}
	n.client, _ = rec["client-url"].(string)
	n.http, _ = rec["http-url"].(string)
	if n.client == "" || n.http == "" {
		t.Fatalf("startup line lacks client-url or http-url: %v", rec)
	}
	nc, err := nats.Connect(n.client)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	n.js, _ = jetstream.New(nc)
	return n
}

// entrySummary is what must survive a restore of one revision.
type entrySummary struct {
	Key      string
	Value    string
	Revision uint64
	Created  time.Time
	Op       jetstream.KeyValueOp
}

func historyOf(t *testing.T, ctx context.Context, kv jetstream.KeyValue, key string) []entrySummary {
	t.Helper()
	h, err := kv.History(ctx, key)
	if err != nil {
		t.Fatalf("history of %s: %v", key, err)
	}
	out := make([]entrySummary, len(h))
	for i, e := range h {
		out[i] = entrySummary{e.Key(), string(e.Value()), e.Revision(), e.Created(), e.Operation()}
	}
	return out
}

// Backup from one node and restore into a fresh one with the CLI: the
// same revisions, values and times, seen through nats.go.
func TestE2EBucketBackupRestore(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), e2eTimeout)
	defer cancel()
	src, dst := startE2ENode(t), startE2ENode(t)

	kv, err := src.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "orders", History: 4, LimitMarkerTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range []string{"a", "b.c", "a", "d", "a", "b.c"} {
		if _, err := kv.PutString(ctx, k, strings.Repeat("v", i+1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := kv.Delete(ctx, "b.c"); err != nil {
		t.Fatal(err)
	}
	if err := kv.Purge(ctx, "d"); err != nil {
		t.Fatal(err)
	}
	wantStatus, err := kv.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}

	file := filepath.Join(t.TempDir(), "orders.backup")
	r := cli(t, "", nil, "bucket", "backup", "orders", file, "--http", src.http)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "backed up bucket orders: 7 messages, last revision 8, ") {
		t.Fatalf("backup: %v", r)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}

	// A damaged copy is refused by the CLI and by the node, and creates
	// nothing.
	bad := filepath.Join(t.TempDir(), "bad.backup")
	if err := os.WriteFile(bad, append(data[:len(data)/2:len(data)/2], data[len(data)/2+1:]...), 0o600); err != nil {
		t.Fatal(err)
	}
	if msg := wantFailure(t, cli(t, "", []string{"CAIRN_HTTP=" + dst.http}, "bucket", "restore", bad)); !strings.Contains(msg, "invalid backup") {
		t.Fatalf("damaged restore: %q", msg)
	}
	if _, err := dst.js.KeyValue(ctx, "orders"); err == nil {
		t.Fatal("damaged restore created the bucket")
	}

	r = cli(t, "", []string{"CAIRN_HTTP=" + dst.http}, "bucket", "restore", file, "--json")
	if r.code != 0 {
		t.Fatalf("restore: %v", r)
	}
	var out backupJSON
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || out.Bucket != "orders" || out.Messages != 7 || out.Last != 8 || out.Bytes != int64(len(data)) {
		t.Fatalf("restore output %q (%v)", r.stdout, err)
	}
	// Restoring again over the now non-empty bucket is refused.
	if msg := wantFailure(t, cli(t, "", nil, "bucket", "restore", file, "--http", dst.http)); !strings.Contains(msg, "already exists") {
		t.Fatalf("second restore: %q", msg)
	}

	kv2, err := dst.js.KeyValue(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	gotStatus, err := kv2.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if gotStatus.Values() != wantStatus.Values() || gotStatus.History() != wantStatus.History() ||
		gotStatus.LimitMarkerTTL() != wantStatus.LimitMarkerTTL() || gotStatus.Bytes() != wantStatus.Bytes() {
		t.Fatalf("status: got %+v want %+v", gotStatus, wantStatus)
	}
	for _, k := range []string{"a", "b.c", "d"} {
		if w, g := historyOf(t, ctx, kv, k), historyOf(t, ctx, kv2, k); !reflect.DeepEqual(w, g) {
			t.Fatalf("history of %s:\n got %+v\nwant %+v", k, g, w)
		}
	}
	rev, err := kv2.PutString(ctx, "new", "x")
	if err != nil || rev != 9 {
		t.Fatalf("put after restore: rev %d, %v", rev, err)
	}
}
