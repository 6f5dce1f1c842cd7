package natsserver

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nkeys"
)

// FuzzAuthWire sends whatever the fuzzer makes to a server that asks
// for a token (and admits an nkey user). Nothing but a CONNECT carrying the token may get anything
// back but INFO and the refusal: no PONG, no +OK, no MSG. The server
// must close the others, and go on serving a client that has the token.
func FuzzAuthWire(f *testing.F) {
	// nkey users too: the fuzzer cannot sign a fresh nonce, so the
	// nkey path may never let it in either.
	kp, err := nkeys.CreateUser()
	if err != nil {
		f.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	s := startServer(f, func(c *Config) {
		c.Authorize, c.AuthTimeout = tokenAuth, 300*time.Millisecond
		c.AuthorizeNKey = func(k string) bool { return k == pub }
	})
	for _, seed := range []string{
		"CONNECT {\"nkey\":\"" + pub + "\",\"sig\":\"AAAA\"}\r\nPING\r\n",
		"CONNECT {\"nkey\":\"" + pub + "\"}\r\nPING\r\n",
		"CONNECT {\"nkey\":\"UNOTAKEY\",\"sig\":\"!!\",\"auth_token\":\"s3cret\"}\r\nPING\r\n",
		"",
		"PING\r\n",
		"CONNECT {}\r\nPING\r\n",
		"CONNECT {\"auth_token\":\"s3cret\"}\r\nPING\r\n",
		"CONNECT {\"auth_token\":\"s3cret\",\"verbose\":true}\r\nSUB a 1\r\nPUB a 1\r\nx\r\n",
		"CONNECT {\"auth_token\":\"s3cre\"}\r\nPING\r\n",
		"CONNECT {\"auth_token\":\"s3cret\"}\r\nCONNECT {\"auth_token\":\"x\"}\r\nPING\r\n",
		"SUB > 1\r\nCONNECT {\"auth_token\":\"s3cret\"}\r\n",
		"CONNECT {\"user\":\"s3cret\",\"pass\":\"s3cret\"}\r\nPING\r\n",
		"CONNECT {\"auth_token\":\"s3cret\"\r\nPING\r\n",
		"connect {\"auth_token\":\"s3cret\"}\r\nping\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		hung := time.AfterFunc(30*time.Second, func() {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			_ = os.WriteFile(fmt.Sprintf("/tmp/fuzzauth-hang-%d.txt", os.Getpid()), append([]byte(fmt.Sprintf("input %q\n", data)), buf[:n]...), 0o644)
			panic("input hung")
		})
		defer hung.Stop()
		c, err := net.DialTimeout("tcp", s.Addr().String(), testTimeout)
		if err != nil {
			t.Fatalf("dialing: %v", err)
		}
		defer c.Close()
		// A client without the token is closed within AuthTimeout; one
		// with it that left the parser inside a payload never gets its
		// PONG, and a second is enough to learn nothing more from it.
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Write(append(append([]byte(nil), data...), "\r\nPING\r\n"...)); err != nil {
			return // closed already
		}
		out, timedOut := readUntilPongOrEnd(c)
		if !bytes.HasPrefix(out, []byte("INFO ")) {
			t.Fatalf("no INFO first: %q", trunc(string(out)))
		}
		rest := string(out[bytes.IndexByte(out, '\n')+1:])
		if !bytes.Contains(data, []byte("s3cret")) {
			for _, w := range []string{"PONG", "+OK", "MSG "} {
				if strings.Contains(rest, w) {
					t.Fatalf("a client without the token got %q: %q", w, trunc(rest))
				}
			}
			if timedOut {
				t.Fatalf("a client without the token was not closed: %q", trunc(rest))
			}
		}
		// The server still serves a client with the token.
		rc := dialRaw(t, s)
		rc.send("CONNECT {\"auth_token\":\"s3cret\",\"verbose\":false}\r\nPING\r\n")
		rc.expect("PONG")
	})
}

// readUntilPongOrEnd reads until the server closes, a PONG arrives or
// the deadline passes (timedOut).
func readUntilPongOrEnd(c net.Conn) (out []byte, timedOut bool) {
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		out = append(out, buf[:n]...)
		if bytes.Contains(out, []byte("PONG\r\n")) {
			return out, false
		}
		if err != nil {
			return out, isTimeout(err)
		}
	}
}
