package natsserver

import (
	"strings"
	"testing"
	"time"

	"github.com/cairnkv/cairn/node/natsref"
	natsd "github.com/nats-io/nats-server/v2/server"
)

// TestDifferential sends the same raw protocol to an embedded
// nats-server and to ours and compares everything that comes back after
// INFO. Exchanges that do not close the connection end with PING so the
// reader knows when to stop. (Known, deliberate difference: nats-server
// echoes a PUB size with leading zeros verbatim in MSG; cairn normalises.)
func TestDifferential(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a nats-server")
	}
	ref := natsref.Start(t, natsd.Options{MaxPayload: 1024})
	ours := startServer(t, func(c *Config) { c.MaxPayload = 1024 })

	const quiet = "CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,\"no_responders\":true}\r\n"
	cases := []string{
		// Handshake and defaults before CONNECT (verbose, pedantic).
		"PING\r\n",
		"ping\n",
		"PINGxyz\r\n",
		"SUB foo 1\r\nSUB foo 1\r\nPUB foo 1\r\nx\r\nPING\r\n",
		"PUB foo.. 1\r\nx\r\nPING\r\n",
		"CONNECT {\"verbose\":true}\r\nPING\r\nSUB foo 1\r\nUNSUB 1\r\nPUB foo 1\r\nx\r\nPING\r\n",
		"CONNECT {\"verbose\":true,\"pedantic\":true}\r\nSUB foo..x 1\r\nPUB foo.* 1\r\nx\r\nPING\r\n",
		"CONNECT {\"headers\":true}\r\nSUB foo 1\r\nHPUB foo 12 12\r\nNATS/1.0\r\n\r\n\r\nPING\r\n",
		// Whitespace tolerance.
		quiet + "SUB _INBOX.x  1\r\nPUB _INBOX.x  \t 2  \r\nhi\r\nUNSUB 1 \r\nPUB _INBOX.x 0\r\n\r\nPING\r\n",
		quiet + "sub a.* q 5\r\npub a.b r 1\r\nx\r\nPING\r\n",
		quiet + "PUB foo 1\nx\r\nPING\r\n",
		// Routing: wildcards, literal wildcard tokens, queue, auto-unsub.
		// The order of one message's deliveries to several subscriptions
		// is nats-server's match order, which its result cache changes: a
		// subject published in an earlier case (whose connection may not
		// be cleaned up yet) has a cached result that new subscriptions
		// are appended to in insertion order. Subjects no other case
		// publishes keep it to the trie's walk order, which cairn follows.
		quiet + "SUB rt.a.* 1\r\nSUB rt.a.> 2\r\nSUB > 3\r\nPUB rt.a.b 1\r\n1\r\nPUB rt.a.b.c 1\r\n2\r\nPUB rt.a.* 1\r\n3\r\nPING\r\n",
		quiet + "SUB x 1\r\nUNSUB 1 2\r\nPUB x 1\r\na\r\nPUB x 1\r\nb\r\nPUB x 1\r\nc\r\nPING\r\n",
		quiet + "SUB x 1\r\nUNSUB 1 x\r\nPUB x 1\r\na\r\nPING\r\n",
		quiet + "UNSUB 99\r\nPING\r\n",
		// Headers and no responders.
		quiet + "SUB foo 1\r\nHPUB foo r 18 20\r\nNATS/1.0\r\nA: b\r\n\r\nhi\r\nPING\r\n",
		quiet + "SUB r 7\r\nPUB nobody.listens r 0\r\n\r\nPING\r\n",
		quiet + "SUB r.* 7\r\nPUB x r.a 0\r\n\r\nPING\r\n",
		quiet + "PUB x r 0\r\n\r\nPING\r\n",
		"CONNECT {\"headers\":true,\"no_responders\":false}\r\nSUB r 1\r\nPUB x r 0\r\n\r\nPING\r\n",
		// Non-fatal errors.
		quiet + "SUB foo..bar 1\r\nSUB foo.>.bar 2\r\nSUB . 3\r\nPING\r\n",
		// Fatal errors.
		"XYZ\r\n",
		"\r\n",
		"  PING\r\n",
		"PUB\r\n",
		"UNSUB\r\n",
		"MSG foo 1 1\r\nx\r\n",
		"PUB foo 3\r\nabcd\r\n",
		"PUB foo 1\nx\nPING\r\n",
		"PUB foo 2000\r\n",
		quiet + "HPUB foo 10 2000\r\n",
		"SUB " + strings.Repeat("a", 5000) + " 1\r\n",
		"CONNECT {\"protocol\":5}\r\n",
		"CONNECT {\"no_responders\":true}\r\n",
		// Closed without -ERR.
		"PUB foo\r\n",
		"PUB foo bar baz qux\r\n",
		"PUB foo x\r\n",
		"PUB foo -1\r\n",
		"SUB foo\r\n",
		"SUB foo q 1 2\r\n",
		"UNSUB 1 2 3\r\n",
		"CONNECT {bad\r\n",
		"CONNECT\r\n",
		"HPUB foo 12 12\r\nNATS/1.0\r\n\r\n\r\nPING\r\n",
		quiet + "HPUB foo 12 11\r\n",
	}
	for _, in := range cases {
		want := exchange(t, ref.Addr().String(), in)
		got := exchange(t, ours.Addr().String(), in)
		if got != want {
			t.Errorf("input %q\n  nats-server: %q\n  cairn:       %q", trunc(in), want, got)
		}
	}
}

// exchange sends in and returns everything received after INFO until
// the connection closes or every PING has had its PONG.
func exchange(t *testing.T, addr, in string) string {
	t.Helper()
	rc := dialAddr(t, addr)
	defer rc.conn.Close()
	rc.send(in)
	pings := 0
	for l := range strings.SplitSeq(in, "\n") {
		if strings.HasPrefix(strings.ToUpper(l), "PING") {
			pings++
		}
	}
	var out strings.Builder
	buf := make([]byte, 4096)
	deadline := time.Now().Add(testTimeout)
	for {
		_ = rc.conn.SetReadDeadline(deadline)
		n, err := rc.r.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			if isTimeout(err) {
				t.Fatalf("%s: no end of reply to %q, got %q", addr, trunc(in), out.String())
			}
			return out.String() + "<closed>"
		}
		if pings > 0 && strings.Count(out.String(), "PONG\r\n") == pings {
			return out.String()
		}
	}
}

func isTimeout(err error) bool {
	te, ok := err.(interface{ Timeout() bool })
	return ok && te.Timeout()
}

func trunc(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
