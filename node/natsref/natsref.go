// Package natsref runs a real nats-server (github.com/nats-io/nats-server/v2,
// embedded) on loopback, for the tests that compare cairn with it or need
// a plain NATS server to talk to.
//
// It is for test code only: nothing a cairn binary links may import it
// (TestNotLinkedIntoCairn checks), and it knows nothing of cairn.
package natsref

import (
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
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
