package frontdoor_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/cairnkv/cairn/node"
	"github.com/cairnkv/cairn/node/frontdoor"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func accountConsumers(t *testing.T, nc *nats.Conn) int {
	t.Helper()
	msg, err := nc.Request("$JS.API.INFO", nil, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var ai struct {
		Consumers int `json:"consumers"`
	}
	if err := json.Unmarshal(msg.Data, &ai); err != nil {
		t.Fatal(err)
	}
	return ai.Consumers
}

// A client that disappears in the middle of a watch leaves no consumer
// behind: it is removed once its deliver subject has had no interest for
// the inactive threshold (5 s), as nats-server does.
func TestClientDisconnectMidWatch(t *testing.T) {
	url := startCairn(t)
	admin, js := connect(t, url)
	ctx := ctxT(t)
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "dw"})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		if _, err := kv.Put(ctx, fmt.Sprintf("k.%d", i), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	wjs, _ := jetstream.New(nc)
	wkv, _ := wjs.KeyValue(ctx, "dw")
	w, err := wkv.WatchAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	<-w.Updates() // mid-delivery
	if n := accountConsumers(t, admin); n != 1 {
		t.Fatalf("consumers during watch = %d, want 1", n)
	}
	nc.Close() // no UNSUB, no CONSUMER.DELETE: the process "died"
	waitFor(t, 15*time.Second, "the orphaned consumer to be removed", func() bool {
		return accountConsumers(t, admin) == 0
	})
	// The bucket still serves others.
	if _, err := kv.Put(ctx, "after", []byte("x")); err != nil {
		t.Fatal(err)
	}
}

// API subjects cairn does not serve answer like a subject nobody serves
// on nats-server (no responders), at once instead of a timeout; streams
// that are not KV buckets are refused with a clear error.
func TestUnsupportedAPI(t *testing.T) {
	url := startCairn(t)
	nc, js := connect(t, url)
	start := time.Now()
	_, err := nc.Request("$JS.API.ACCOUNT.PURGE.x", nil, 5*time.Second)
	if !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("unknown API subject: %v, want no responders", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatalf("unknown API subject took %v", time.Since(start))
	}
	_, err = js.CreateStream(ctxT(t), jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}})
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) || !strings.Contains(apiErr.Description, "Key/Value streams") {
		t.Fatalf("non-KV stream: %v", err)
	}
	// A publish to a bucket that does not exist: no stream, no responder.
	_, err = js.Publish(ctxT(t), "$KV.nobucket.k", []byte("v"))
	if !errors.Is(err, jetstream.ErrNoStreamResponse) && !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("publish to missing bucket: %v", err)
	}
}

// TestManyIdleConnections holds 10,000 idle client connections on one
// node and checks it still serves requests promptly. The node runs in a
// child process (this test binary re-executed) so that neither process
// needs more than ~10,000 file descriptors.
func TestManyIdleConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short mode: opens 10,000 connections")
	}
	const conns = 10000
	url := startChildServer(t)
	addr := strings.TrimPrefix(url, "nats://")
	held := make([]net.Conn, 0, conns)
	t.Cleanup(func() {
		for _, c := range held {
			_ = c.Close()
		}
	})
	for i := 0; i < conns; i++ {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		held = append(held, c)
		r := bufio.NewReader(c)
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := r.ReadString('\n'); err != nil { // INFO
			t.Fatalf("connection %d INFO: %v", i, err)
		}
		if _, err := c.Write([]byte("CONNECT {\"verbose\":false}\r\nPING\r\n")); err != nil {
			t.Fatal(err)
		}
		if line, err := r.ReadString('\n'); err != nil || line != "PONG\r\n" {
			t.Fatalf("connection %d: %q %v", i, line, err)
		}
		_ = c.SetDeadline(time.Time{})
	}
	_, js := connect(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "busy"})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for i := 0; i < 100; i++ {
		if _, err := kv.Put(ctx, "k", []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d idle connections held; 100 puts took %v", len(held), time.Since(start))
}

// startChildServer re-executes the test binary as a cairn node (see
// TestServeChild) and returns its client URL.
func startChildServer(t *testing.T) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestServeChild$", "-test.v")
	cmd.Env = append(os.Environ(), "CAIRN_SERVE_CHILD="+t.TempDir())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "CHILD-URL "); ok {
				urls <- u
			}
		}
	}()
	select {
	case u := <-urls:
		return u
	case <-time.After(30 * time.Second):
		t.Fatal("child server did not start")
		return ""
	}
}

// TestServeChild is the child side of startChildServer: it serves until
// killed. It does nothing in a normal test run.
func TestServeChild(t *testing.T) {
	dir := os.Getenv("CAIRN_SERVE_CHILD")
	if dir == "" {
		t.Skip("helper process for TestManyIdleConnections")
	}
	cfg := node.DefaultConfig()
	cfg.DataDir = dir
	cfg.ClientAddr = "127.0.0.1:0"
	cfg.Logger = quiet
	n, err := node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	fd, err := frontdoor.Start(context.Background(), n, quiet)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("CHILD-URL %s\n", fd.ClientURL())
	select {}
}
