package target

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/cairnkv/cairn/node"
	"github.com/cairnkv/cairn/node/frontdoor"
	"github.com/cairnkv/cairn/node/natsref"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// startCairn runs a one-node cairn in-process with its NATS front door on
// a random loopback port and returns the client URL.
func startCairn(t testing.TB) string {
	t.Helper()
	cfg := node.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Name = "bench-test"
	cfg.ClientAddr = "127.0.0.1:0"
	cfg.HTTPAddr = ""
	cfg.Logger = quiet
	n, err := node.New(cfg)
	if err != nil {
		t.Fatalf("starting cairn: %v", err)
	}
	fd, err := frontdoor.Start(context.Background(), n, quiet)
	if err != nil {
		_ = n.Close()
		t.Fatalf("starting cairn's front door: %v", err)
	}
	t.Cleanup(func() {
		_ = fd.Close()
		_ = n.Close()
	})
	return fd.ClientURL()
}

// startNATS runs an embedded nats-server with JetStream.
func startNATS(t testing.TB) string {
	t.Helper()
	return natsref.JetStream(t, false)
}
