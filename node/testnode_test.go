package node

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"
)

// startNode starts a node on dir (a fresh temp dir when "").
func startNode(t testing.TB, dir string) *Node {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	cfg := DefaultConfig()
	cfg.DataDir = dir
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.ExpiryInterval = 20 * time.Millisecond
	n, err := New(cfg)
	if err != nil {
		t.Fatalf("starting node: %v", err)
	}
	t.Cleanup(func() { _ = n.Close() })
	return n
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustBucket(t testing.TB, n *Node, cfg BucketConfig) *Bucket {
	t.Helper()
	if _, err := n.CreateBucket(testCtx(t), cfg); err != nil {
		t.Fatalf("create bucket %s: %v", cfg.Name, err)
	}
	b, err := n.Bucket(cfg.Name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
