package frontdoor_test

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

// FuzzClientWire writes fuzzed bytes to a running node's NATS port after
// a valid CONNECT, then a PING. The node must answer as nats-server
// does, with a PONG, or with -ERR and a closed connection, or by
// closing it; never by hanging, and never by going down: a fresh client
// must be served afterwards. The pure parser has its own targets in
// node/natsproto; this one drives what the server does with what it
// parsed (subscriptions, publishes into the JetStream API, headers,
// limits).
func FuzzClientWire(f *testing.F) {
	url := startCairn(f)
	addr := strings.TrimPrefix(url, "nats://")
	probe, js := connect(f, url)
	for _, s := range []string{
		"",
		"SUB > 1\r\nPUB a 2\r\nhi\r\n",
		"SUB $JS.API.> q 1\r\nPUB $JS.API.INFO _INBOX.x 0\r\n\r\n",
		"SUB _INBOX.> 9\r\nPUB $JS.API.STREAM.NAMES _INBOX.x 15\r\n{\"offset\":-1}\r\n\r\n",
		"HPUB $KV.x.y _INBOX.y 12 14\r\nNATS/1.0\r\n\r\nhi\r\n",
		"HPUB $KV.x.y 40 40\r\nNATS/1.0\r\nNats-TTL: 1s\r\nKV-Operation: x\r\n\r\n\r\n",
		"UNSUB 1 18446744073709551615\r\nUNSUB 99\r\n",
		"SUB a.*.> 1\r\nSUB a..b 2\r\nSUB * 3\r\nSUB a b c d 4\r\n",
		"PUB a 99999999999\r\n",
		"PUB a -1\r\n",
		"HPUB a 5 3\r\n",
		"CONNECT {\"verbose\":true,\"pedantic\":true}\r\nPUB a.* 0\r\n\r\n",
		"CONNECT {\"protocol\":-1,\"headers\":false}\r\nHPUB a 12 12\r\nNATS/1.0\r\n\r\n\r\n",
		"PUB $JS.API.CONSUMER.CREATE.KV_x _INBOX.z 2\r\n{}\r\n",
		"PUB $JS.FC.a.b.c _INBOX.z 0\r\n\r\n",
		"\x00\xff\r\n",
	} {
		f.Add([]byte(s))
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("dialing the node: %v", err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		r := bufio.NewReader(c)
		if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "INFO ") {
			t.Fatalf("no INFO from the node: %q %v", line, err)
		}
		msg := append([]byte("CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,\"no_responders\":true,\"protocol\":1}\r\n"), data...)
		msg = append(msg, "\r\nPING\r\n"...)
		if _, err := c.Write(msg); err != nil {
			return // closed already: the node refused what it read
		}
		// Read until the PONG, an -ERR, or the end of the connection. A
		// PUB may have left the node waiting for the rest of its payload
		// (at most the 1 MiB max payload): after a second without an
		// answer, more than that much filler ends it, and the filler is
		// then a protocol error or a PONG's wait.
		filled := false
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		for {
			line, err := r.ReadBytes('\n')
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				if filled {
					t.Fatalf("no PONG, -ERR or close after %q and filler", data)
				}
				filled = true
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				if _, err := c.Write(append(bytes.Repeat([]byte("\r\n"), 1<<19+64), "PING\r\n"...)); err != nil {
					break // closed by the node
				}
				continue
			}
			if err != nil {
				break // closed by the node
			}
			if bytes.HasPrefix(line, []byte("PONG")) || bytes.HasPrefix(line, []byte("-ERR")) {
				break
			}
		}
		// The node still serves: a core round trip and a JetStream request.
		if err := probe.FlushTimeout(5 * time.Second); err != nil {
			t.Fatalf("after %q the node no longer answers a PING: %v", data, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := js.AccountInfo(ctx); err != nil {
			t.Fatalf("after %q the node no longer answers account info: %v", data, err)
		}
	})
}
