package natsserver

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

const quietConnect = "CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,\"no_responders\":true}\r\n"

func TestRawVerbose(t *testing.T) {
	s := startServer(t, nil)
	rc := dialRaw(t, s)
	rc.send("CONNECT {\"verbose\":true,\"pedantic\":false}\r\nPING\r\nSUB foo 1\r\nPUB foo 2\r\nhi\r\nUNSUB 1\r\nPING\r\n")
	rc.expect("+OK", "PONG", "+OK", "+OK")
	if m := rc.msg(); m.subject != "foo" || m.sid != "1" || m.payload != "hi" {
		t.Fatalf("got %+v", m)
	}
	rc.expect("+OK", "PONG")
}

// nats-server starts clients verbose and pedantic until CONNECT says
// otherwise, and a CONNECT that omits a field keeps it.
func TestRawVerboseBeforeConnect(t *testing.T) {
	s := startServer(t, nil)
	rc := dialRaw(t, s)
	rc.send("SUB a 1\r\nPUB a.* 1\r\nx\r\nPING\r\n")
	rc.expect("+OK", "-ERR 'Invalid Publish Subject'", "+OK", "PONG")
	rc.send("CONNECT {\"headers\":true}\r\nPING\r\n")
	rc.expect("+OK", "PONG")
}

func TestRawSplitWrites(t *testing.T) {
	s := startServer(t, nil)
	rc := dialRaw(t, s)
	in := quietConnect + "SUB _INBOX.x  1\r\nHPUB _INBOX.x 18 20\r\nNATS/1.0\r\nA: b\r\n\r\nhi\r\nUNSUB 1 \r\nPING\r\n"
	for i := range len(in) {
		rc.send(in[i : i+1])
	}
	m := rc.msg()
	if m.subject != "_INBOX.x" || m.header != "NATS/1.0\r\nA: b\r\n\r\n" || m.payload != "hi" {
		t.Fatalf("got %+v", m)
	}
	rc.expect("PONG")
}

func TestRawProtocolErrors(t *testing.T) {
	s := startServer(t, func(c *Config) { c.MaxPayload = 1024 })
	tests := []struct {
		name, in, want string
	}{
		{"unknown op", "FOO bar\r\n", "-ERR 'Unknown Protocol Operation'\r\n"},
		{"client +OK", "+OK\r\n", "-ERR 'Unknown Protocol Operation'\r\n"},
		{"payload overrun", "PUB foo 3\r\nabcd\r\n", "-ERR 'Unknown Protocol Operation'\r\n"},
		{"max payload", "PUB foo 2000\r\n", "-ERR 'Maximum Payload Violation'\r\n"},
		{"max payload hpub", quietConnect + "HPUB foo 10 1025\r\n", "-ERR 'Maximum Payload Violation'\r\n"},
		{"control line", "SUB " + strings.Repeat("a", 5000) + " 1\r\n", "-ERR 'maximum control line exceeded'\r\n"},
		{"control line no newline", "SUB " + strings.Repeat("a", 5000), "-ERR 'maximum control line exceeded'\r\n"},
		{"bad protocol", "CONNECT {\"protocol\":5}\r\n", "-ERR 'invalid client protocol'\r\n"},
		{"no responders without headers", "CONNECT {\"no_responders\":true}\r\n", "-ERR 'no responders requires headers support'\r\n"},
		// nats-server closes these without an -ERR.
		{"bad pub args", "PUB foo\r\n", ""},
		{"bad size", "PUB foo x\r\n", ""},
		{"bad connect json", "CONNECT {bad\r\n", ""},
		{"hpub without headers", "HPUB foo 12 12\r\nNATS/1.0\r\n\r\n\r\n", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc := dialRaw(t, s)
			rc.send(tc.in)
			if got := rc.untilEOF(); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
	waitFor(t, "connections closed", func() bool { return s.Stats().Connections == 0 })
}

func TestRawNonFatalErrors(t *testing.T) {
	s := startServer(t, func(c *Config) { c.MaxSubscriptions = 2 })
	rc := dialRaw(t, s)
	rc.send(quietConnect + "SUB foo..bar 1\r\nSUB foo.>.x 2\r\nSUB a 3\r\nSUB b 4\r\nSUB c 5\r\nSUB a 3\r\nPING\r\n")
	rc.expect("-ERR 'Invalid Subject'", "-ERR 'Invalid Subject'", "-ERR 'maximum subscriptions exceeded'", "PONG")
	if n := s.Stats().Subscriptions; n != 2 {
		t.Fatalf("%d subscriptions, want 2", n)
	}
}

func TestRawNoRespondersBytes(t *testing.T) {
	s := startServer(t, nil)
	rc := dialRaw(t, s)
	rc.send(quietConnect + "SUB _INBOX.raw.* 1\r\nPUB nobody.listens _INBOX.raw.x 0\r\n\r\nPING\r\n")
	m := rc.msg()
	want := rawMsg{subject: "_INBOX.raw.x", sid: "1", header: "NATS/1.0 503\r\nNats-Subject: nobody.listens\r\n\r\n"}
	if m != want {
		t.Fatalf("got %+v, want %+v", m, want)
	}
	rc.expect("PONG")
	// Without a matching subscription of its own the publisher gets
	// nothing; without no_responders neither.
	rc.send("PUB nobody.listens other.reply 0\r\n\r\nPING\r\n")
	rc.expect("PONG")
	rc2 := dialRaw(t, s)
	rc2.send("CONNECT {\"verbose\":false,\"headers\":true}\r\nSUB r 1\r\nPUB nobody r 0\r\n\r\nPING\r\n")
	rc2.expect("PONG")
}

func TestRawAutoUnsubscribe(t *testing.T) {
	s := startServer(t, nil)
	rc := dialRaw(t, s)
	rc.send(quietConnect + "SUB x 1\r\nUNSUB 1 2\r\nPUB x 1\r\na\r\nPUB x 1\r\nb\r\nPUB x 1\r\nc\r\nPING\r\n")
	if m := rc.msg(); m.payload != "a" {
		t.Fatalf("got %+v", m)
	}
	if m := rc.msg(); m.payload != "b" {
		t.Fatalf("got %+v", m)
	}
	rc.expect("PONG")
	// UNSUB with a max already reached removes at once.
	rc.send("SUB y 2\r\nPUB y 1\r\na\r\nUNSUB 2 1\r\nPUB y 1\r\nb\r\nPING\r\n")
	if m := rc.msg(); m.payload != "a" {
		t.Fatalf("got %+v", m)
	}
	rc.expect("PONG")
	if n := s.Stats().Subscriptions; n != 0 {
		t.Fatalf("%d subscriptions left", n)
	}
}

func TestRawStaleConnection(t *testing.T) {
	s := startServer(t, func(c *Config) {
		c.PingInterval = 100 * time.Millisecond
		c.MaxPingsOut = 3
	})
	// A client that answers pings stays connected.
	nc := connectNATS(t, s)
	rc := dialRaw(t, s)
	rc.send(quietConnect)
	rc.expect("PING", "PING", "PING")
	if got := rc.untilEOF(); got != "-ERR 'Stale Connection'\r\n" {
		t.Fatalf("got %q", got)
	}
	waitFor(t, "stale connection removed", func() bool { return s.Stats().Connections == 1 })
	if err := nc.Flush(); err != nil || !nc.IsConnected() {
		t.Fatalf("pinging client was disconnected: %v", err)
	}
}

func TestRawMaxConnections(t *testing.T) {
	s := startServer(t, func(c *Config) { c.MaxConnections = 2 })
	dialRaw(t, s).send("PING\r\n")
	dialRaw(t, s).send("PING\r\n")
	waitFor(t, "two connections", func() bool { return s.Stats().Connections == 2 })
	rc := dialRaw(t, s)
	if got := rc.untilEOF(); got != "-ERR 'maximum connections exceeded'\r\n" {
		t.Fatalf("got %q", got)
	}
}

// TestRawSlowConsumer has a subscriber that never reads. The server must
// cut it off without slowing the publisher or buffering without bound.
func TestRawSlowConsumer(t *testing.T) {
	s := startServer(t, func(c *Config) {
		c.MaxPayload = 64 << 10
		c.MaxPending = 4 << 20
	})
	rc := dialRaw(t, s)
	rc.send(quietConnect + "SUB slow 1\r\nPING\r\n")
	rc.expect("PONG")

	fast, err := nats.Connect(serverURL(s), nats.NoReconnect())
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Close()
	fastSub, err := fast.SubscribeSync("slow")
	if err != nil {
		t.Fatal(err)
	}
	if err := fast.Flush(); err != nil {
		t.Fatal(err)
	}

	pub := connectNATS(t, s)
	payload := make([]byte, 32<<10)
	deadline := time.Now().Add(testTimeout)
	sent := 0
	for s.Stats().SlowConsumers == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no slow consumer after %d messages", sent)
		}
		if err := pub.Publish("slow", payload); err != nil {
			t.Fatal(err)
		}
		if sent++; sent%32 == 0 {
			if err := pub.Flush(); err != nil { // the publisher is never blocked
				t.Fatal(err)
			}
		}
	}
	waitFor(t, "slow consumer disconnected", func() bool { return s.Stats().Connections == 2 })
	// Everything it can still read ends with the connection closing.
	got := rc.untilEOF()
	if !strings.HasPrefix(got, "MSG slow 1 32768\r\n") {
		t.Fatalf("slow consumer read %q...", got[:min(len(got), 40)])
	}
	if err := pub.Flush(); err != nil || !pub.IsConnected() {
		t.Fatalf("publisher affected: %v", err)
	}
	if _, err := fastSub.NextMsg(testTimeout); err != nil {
		t.Fatalf("reading subscriber affected: %v", err)
	}
}

// TestRawStalledReaderGetsEverythingInOrder has a subscriber that stops
// reading while messages pile up beyond what its socket takes (so
// deliveries written on the publisher's goroutine time out and hand over
// to the connection's writer) and then reads again: every message
// arrives, once, in publish order, and the publisher was never cut off.
func TestRawStalledReaderGetsEverythingInOrder(t *testing.T) {
	s := startServer(t, nil)
	rc := dialRaw(t, s)
	if tc, ok := rc.conn.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(256 << 10) // fills sooner; not below a segment
	}
	rc.send(quietConnect + "SUB stall 1\r\nPING\r\n")
	rc.expect("PONG")

	pub := connectNATS(t, s)
	const n = 16000 // 16 MB: more than the socket buffers hold
	payload := strings.Repeat("x", 1000)
	for i := range n {
		if err := pub.Publish("stall", fmt.Appendf(nil, "%06d%s", i, payload)); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Flush(); err != nil { // every publish has been routed
		t.Fatal(err)
	}
	for i := range n {
		m := rc.msg()
		if want := fmt.Sprintf("%06d", i); !strings.HasPrefix(m.payload, want) {
			t.Fatalf("message %d starts %q", i, m.payload[:min(len(m.payload), 6)])
		}
	}
	rc.send("PING\r\n")
	rc.expect("PONG")
	if sc := s.Stats().SlowConsumers; sc != 0 {
		t.Fatalf("%d slow consumers", sc)
	}
	if s.stats.inPlaceStalls.Load() == 0 {
		t.Fatal("no in-place write stalled: the test did not fill the socket")
	}
}

// TestRawResetReaderIsDropped: a subscriber whose socket is reset while
// messages stream to it (an in-place write fails: EPIPE or ECONNRESET)
// is dropped with its subscription; publishing goes on undisturbed and
// other subscribers get every message.
func TestRawResetReaderIsDropped(t *testing.T) {
	s := startServer(t, nil)
	victim := dialRaw(t, s)
	victim.send(quietConnect + "SUB flow 1\r\nPING\r\n")
	victim.expect("PONG")
	other := dialRaw(t, s)
	other.send(quietConnect + "SUB flow 1\r\nPING\r\n")
	other.expect("PONG")

	pub := connectNATS(t, s)
	payload := []byte(strings.Repeat("x", 200))
	const before, after = 2000, 2000
	for range before {
		if err := pub.Publish("flow", payload); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Flush(); err != nil {
		t.Fatal(err)
	}
	// Reset, not a clean close: unread data makes the kernel send RST,
	// and SO_LINGER 0 makes sure of it.
	if tc, ok := victim.conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	victim.conn.Close()
	for range after {
		if err := pub.Publish("flow", payload); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Flush(); err != nil {
		t.Fatal(err)
	}
	for i := range before + after {
		if m := other.msg(); m.payload != string(payload) {
			t.Fatalf("message %d to the other subscriber: %q", i, m.payload[:min(len(m.payload), 16)])
		}
	}
	waitFor(t, "the reset connection dropped", func() bool {
		st := s.Stats()
		return st.Connections == 2 && st.Subscriptions == 1
	})
	other.send("PING\r\n")
	other.expect("PONG")
}
