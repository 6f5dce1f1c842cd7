// Package natsref runs a real nats-server (github.com/nats-io/nats-server/v2,
// embedded) on loopback, for the tests that compare cairn with it or need
// a plain NATS server to talk to, and holds what those tests share: a
// client connection (Connect) and the seeds of randomized comparisons
// (CompatSeeds).
//
// It is for test code only: nothing a cairn binary links may import it
// (TestNotLinkedIntoCairn checks), and it knows nothing of cairn.
package natsref

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// readyTimeout bounds the wait for a started server to accept clients.
const readyTimeout = 10 * time.Second

// Start runs a nats-server with opts on 127.0.0.1 (a free port unless
// opts sets one), quiet and without signal handlers, and returns it once
// it accepts clients. It is shut down, and waited for, when the test
// ends; calling Shutdown earlier is fine.
func Start(t testing.TB, opts server.Options) *server.Server {
	t.Helper()
	if opts.Host == "" {
		opts.Host = "127.0.0.1"
	}
	if opts.Port == 0 {
		opts.Port = -1
	}
	opts.NoLog, opts.NoSigs = true, true
	ns, err := server.NewServer(&opts)
	if err != nil {
		t.Fatalf("starting nats-server: %v", err)
	}
	go ns.Start()
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	if !ns.ReadyForConnections(readyTimeout) {
		t.Fatalf("nats-server not ready within %v", readyTimeout)
	}
	return ns
}

// JetStream runs a nats-server with JetStream, storing in a directory of
// the test's, and returns its client URL. syncAlways makes it fsync every
// write before acknowledging it, as cairn always does; without it
// nats-server acknowledges first and syncs every two minutes (its
// default).
func JetStream(t testing.TB, syncAlways bool) string {
	t.Helper()
	return Start(t, server.Options{JetStream: true, StoreDir: t.TempDir(), SyncAlways: syncAlways}).ClientURL()
}

// Connect opens a client connection to url, closed when the test ends,
// and its JetStream context.
func Connect(t testing.TB, url string, opts ...nats.Option) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// CompatSeeds returns the seeds a randomized comparison with the
// reference runs: defaults, or the one CAIRN_COMPAT_SEED names, so that
// a run found elsewhere can be replayed.
func CompatSeeds(t testing.TB, defaults ...int64) []int64 {
	t.Helper()
	s := os.Getenv("CAIRN_COMPAT_SEED")
	if s == "" {
		return defaults
	}
	var seed int64
	if _, err := fmt.Sscan(s, &seed); err != nil {
		t.Fatalf("CAIRN_COMPAT_SEED=%q: %v", s, err)
	}
	return []int64{seed}
}
