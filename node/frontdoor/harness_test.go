package frontdoor_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cairnkv/cairn/node"
	"github.com/cairnkv/cairn/node/frontdoor"
	"github.com/cairnkv/cairn/node/natsref"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// startCairn runs a one-node cairn with its NATS front door on a random
// loopback port and returns the client URL.
func startCairn(t testing.TB) string {
	t.Helper()
	cfg := node.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Name = "cairn-test"
	cfg.ClientAddr = "127.0.0.1:0"
	cfg.Logger = quiet
	cfg.ExpiryInterval = 50 * time.Millisecond
	n, err := node.New(cfg)
	if err != nil {
		t.Fatalf("starting node: %v", err)
	}
	fd, err := frontdoor.Start(context.Background(), n, quiet)
	if err != nil {
		_ = n.Close()
		t.Fatalf("starting front doors: %v", err)
	}
	t.Cleanup(func() {
		_ = fd.Close()
		_ = n.Close()
	})
	return fd.ClientURL()
}

// startReference runs an embedded nats-server with JetStream, the
// reference cairn is compared with.
func startReference(t testing.TB) string {
	t.Helper()
	return natsref.JetStream(t, false)
}

func connect(t testing.TB, url string, opts ...nats.Option) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	return natsref.Connect(t, url, append([]nats.Option{nats.Name("cairn-compat")}, opts...)...)
}

// transcript records what a client observes, in a form that can be
// compared across servers (no timestamps, errors by kind).
type transcript struct{ lines []string }

func (tr *transcript) add(format string, args ...any) {
	tr.lines = append(tr.lines, fmt.Sprintf(format, args...))
}

var knownErrs = []error{
	jetstream.ErrKeyNotFound, jetstream.ErrKeyDeleted, jetstream.ErrKeyExists,
	jetstream.ErrKeyRevisionMismatch, jetstream.ErrBucketExists, jetstream.ErrBucketNotFound,
	jetstream.ErrInvalidKey, jetstream.ErrInvalidBucketName, jetstream.ErrNoKeysFound,
	jetstream.ErrHistoryTooLarge, jetstream.ErrStreamNotFound, jetstream.ErrMsgNotFound,
	jetstream.ErrLimitMarkerTTLNotSupported, nats.ErrNoResponders, jetstream.ErrNoStreamResponse,
	context.DeadlineExceeded,
}

// errKind names an error by the client sentinel it matches, or by its
// JetStream error code.
func errKind(err error) string {
	if err == nil {
		return "ok"
	}
	var names []string
	for _, k := range knownErrs {
		if errors.Is(err, k) {
			names = append(names, k.Error())
		}
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		names = append(names, fmt.Sprintf("err_code=%d", apiErr.ErrorCode))
	}
	if len(names) == 0 {
		return "other: " + err.Error()
	}
	return strings.Join(names, "|")
}

func entryString(e jetstream.KeyValueEntry) string {
	if e == nil {
		return "<init-done>"
	}
	return fmt.Sprintf("%s rev=%d op=%s val=%q delta=%d", e.Key(), e.Revision(), e.Operation(), e.Value(), e.Delta())
}

// compare runs a scenario against nats-server, a one-node cairn and a
// three-node cairn cluster, and fails on any difference in what the
// client observed. In the cluster the client talks to the node with the
// highest ID: placement breaks ties by the lowest, so the scenario's
// first bucket lives on another node and every request for it is
// forwarded.
func compare(t *testing.T, scenario func(t *testing.T, js jetstream.JetStream, tr *transcript)) {
	t.Helper()
	ref := &transcript{}
	_, refJS := connect(t, startReference(t))
	scenario(t, refJS, ref)

	single := &transcript{}
	_, cairnJS := connect(t, startCairn(t))
	scenario(t, cairnJS, single)
	diffTranscripts(t, "cairn", ref, single)

	cluster := &transcript{}
	nodes := startCairnCluster(t, 3, func(c *node.Config) { c.ExpiryInterval = 50 * time.Millisecond })
	entry := nodes[0]
	for _, cn := range nodes[1:] {
		if cn.n.NodeID() > entry.n.NodeID() {
			entry = cn
		}
	}
	_, clusterJS := connect(t, entry.url)
	scenario(t, clusterJS, cluster)
	diffTranscripts(t, "cairn 3 nodes", ref, cluster)
	// The point of the cluster run is forwarding: check it happened.
	known, remote := 0, 0
	for name := range clusterJS.KeyValueStoreNames(ctxT(t)).Name() {
		if _, local, ok := entry.n.Locate(name); ok {
			known++
			if !local {
				remote++
			}
		}
	}
	if known > 0 && remote == 0 {
		t.Errorf("cairn 3 nodes: all %d buckets are on the node the client talks to; nothing was forwarded", known)
	}

	if os.Getenv("CAIRN_COMPAT_DUMP") != "" {
		for _, l := range single.lines {
			t.Log("  " + l)
		}
	}
}

// diffTranscripts fails on every step where got differs from the
// reference.
func diffTranscripts(t *testing.T, name string, ref, got *transcript) {
	t.Helper()
	n := max(len(ref.lines), len(got.lines))
	diff := 0
	for i := 0; i < n; i++ {
		var r, g string
		if i < len(ref.lines) {
			r = ref.lines[i]
		}
		if i < len(got.lines) {
			g = got.lines[i]
		}
		if r != g {
			diff++
			t.Errorf("step %d differs:\n  nats-server: %s\n  %-12s %s", i, r, name+":", g)
		}
	}
	if diff == 0 {
		t.Logf("%s: %d observations identical to nats-server", name, n)
	}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
