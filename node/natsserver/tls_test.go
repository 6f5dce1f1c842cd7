package natsserver

import (
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/cairnkv/cairn/node/natsref"
	"github.com/cairnkv/cairn/node/testcert"
	natsd "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// A client that trusts the CA talks over TLS; one that does not, or does
// not speak TLS, is refused as by nats-server.
func TestTLS(t *testing.T) {
	certs := testcert.New(t, "127.0.0.1")
	ours := startServer(t, func(c *Config) { c.TLS = certs.Server; c.Authorize = tokenAuth })
	var ref *natsd.Server
	if !testing.Short() {
		ref = natsref.Start(t, natsd.Options{TLS: true, TLSConfig: certs.Server.Clone(), TLSTimeout: 2, Authorization: "s3cret"})
	}
	rc := dialRaw(t, ours)
	if !strings.Contains(rc.info, `"tls_required":true`) {
		t.Fatalf("INFO does not say tls_required: %s", rc.info)
	}
	type outcome struct {
		ok   bool
		kind string
	}
	try := func(url string, opts ...nats.Option) outcome {
		nc, err := nats.Connect(url, append(opts, nats.Timeout(testTimeout), nats.NoReconnect())...)
		if err != nil {
			kind := err.Error()
			switch {
			case strings.Contains(kind, "certificate"):
				kind = "certificate refused"
			case errors.Is(err, nats.ErrAuthorization):
				kind = "authorization"
			}
			return outcome{kind: kind}
		}
		defer nc.Close()
		sub, err := nc.SubscribeSync("t")
		if err == nil {
			err = nc.Publish("t", []byte("over tls"))
		}
		if err == nil {
			var m *nats.Msg
			if m, err = sub.NextMsg(testTimeout); err == nil && string(m.Data) != "over tls" {
				err = errors.New("wrong message")
			}
		}
		if err != nil {
			return outcome{kind: err.Error()}
		}
		return outcome{ok: true}
	}
	for _, tc := range []struct {
		name string
		opts []nats.Option
		want outcome
	}{
		{"trusted", []nats.Option{nats.Secure(certs.Client()), nats.Token("s3cret")}, outcome{ok: true}},
		{"trusted, CA file", []nats.Option{nats.RootCAs(certs.CAFile), nats.Token("s3cret")}, outcome{ok: true}},
		{"trusted, no token", []nats.Option{nats.Secure(certs.Client())}, outcome{kind: "authorization"}},
		{"untrusted", []nats.Option{nats.Token("s3cret")}, outcome{kind: "certificate refused"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := try(serverURL(ours), tc.opts...); got != tc.want {
				t.Fatalf("cairn: %+v, want %+v", got, tc.want)
			}
			if ref != nil {
				if got := try(ref.ClientURL(), tc.opts...); got != tc.want {
					t.Fatalf("nats-server: %+v, want %+v (the test's expectation is wrong)", got, tc.want)
				}
			}
		})
	}

	// A client that answers INFO with a plain CONNECT is closed, and so
	// is one that says nothing; neither disturbs the server.
	plain := dialRaw(t, ours)
	plain.send("CONNECT {}\r\nPING\r\n")
	plain.untilEOF()
	waitFor(t, "failed handshake counted", func() bool { return ours.Stats().TLSFailures >= 1 })
	if got := try(serverURL(ours), nats.Secure(certs.Client()), nats.Token("s3cret")); !got.ok {
		t.Fatalf("after a plain client: %+v", got)
	}
}

func TestTLSHandshakeTimeoutAndClose(t *testing.T) {
	certs := testcert.New(t, "127.0.0.1")
	s := startServer(t, func(c *Config) { c.TLS = certs.Server; c.TLSTimeout = 200 * time.Millisecond })
	silent := dialRaw(t, s)
	start := time.Now()
	silent.untilEOF()
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("a client that never handshakes was closed after %v", took)
	}
	// Close does not wait out handshakes in progress.
	s2 := startServer(t, func(c *Config) { c.TLS = certs.Server; c.TLSTimeout = time.Minute })
	c, err := net.Dial("tcp", s2.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitFor(t, "INFO sent", func() bool {
		_ = c.SetReadDeadline(time.Now().Add(testTimeout))
		b := make([]byte, 4)
		n, _ := c.Read(b)
		return n > 0
	})
	start = time.Now()
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("Close took %v with a handshake pending", took)
	}
}

// With client certificates required (nats-server's verify), a client
// without one is refused by cairn as by nats-server.
func TestTLSVerify(t *testing.T) {
	certs := testcert.New(t, "127.0.0.1")
	server := certs.Server.Clone()
	server.ClientCAs, server.ClientAuth = certs.Pool, tls.RequireAndVerifyClientCert
	ours := startServer(t, func(c *Config) { c.TLS = server })
	urls := map[string]string{"cairn": serverURL(ours)}
	if !testing.Short() {
		urls["nats-server"] = natsref.Start(t, natsd.Options{TLS: true, TLSVerify: true, TLSConfig: server.Clone(), TLSTimeout: 2}).ClientURL()
	}
	if rc := dialRaw(t, ours); !strings.Contains(rc.info, `"tls_verify":true`) {
		t.Fatalf("INFO does not say tls_verify: %s", rc.info)
	}
	for name, url := range urls {
		nc, err := nats.Connect(url, nats.RootCAs(certs.CAFile), nats.ClientCert(certs.CertFile, certs.KeyFile), nats.Timeout(testTimeout), nats.NoReconnect())
		if err != nil {
			t.Fatalf("%s with a client certificate: %v", name, err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		nc.Close()
		nc, err = nats.Connect(url, nats.RootCAs(certs.CAFile), nats.Timeout(testTimeout), nats.NoReconnect())
		if err == nil {
			// TLS 1.3 reports the refusal at the first read.
			err = nc.Flush()
			nc.Close()
		}
		if err == nil {
			t.Fatalf("%s let a client without a certificate in", name)
		}
	}
}
