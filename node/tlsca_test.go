package node

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairnkv/cairn/node/testcert"
)

// A CA file rotated in place is used from the next handshake on, in both
// directions: a server certificate of the new CA is trusted when dialing
// (verifyServer, which must check as strictly as the built-in
// verification it replaces: the name too), and a client certificate of
// the new CA admitted (verifyingServer). An unreadable CA file keeps the
// previous CAs.
func TestCAReload(t *testing.T) {
	a, b := testcert.New(t, "127.0.0.1"), testcert.New(t, "127.0.0.1")
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	install := func(files ...string) {
		t.Helper()
		var pem []byte
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			pem = append(pem, data...)
		}
		if err := os.WriteFile(caFile, pem, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	install(a.CAFile)
	ca, err := loadCA("test-ca", caFile, slog.Default())
	if err != nil {
		t.Fatal(err)
	}

	// A server presenting b's certificate, asking for a client
	// certificate of the CAs in the file.
	ln, err := tls.Listen("tcp", "127.0.0.1:0", ca.verifyingServer(&tls.Config{
		Certificates: b.Server.Certificates, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12,
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.(*tls.Conn).Handshake()
				_, _ = c.Write([]byte{1}) // the client learns of a refusal reading this
			}()
		}
	}()
	// dial connects to it as host, presenting b's certificate and
	// trusting the CA file (reloading: true) or b's CA alone; nil when
	// both ends accepted the other.
	dial := func(host string, reloading bool) error {
		cfg := &tls.Config{Certificates: b.Server.Certificates, MinVersion: tls.VersionTLS12}
		if reloading {
			ca.verifyServer(cfg, host)
		} else {
			cfg.RootCAs, cfg.ServerName = b.Pool, host
		}
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", ln.Addr().String(), cfg)
		if err != nil {
			return err
		}
		defer c.Close()
		if _, err := c.Read(make([]byte, 1)); err != nil {
			return fmt.Errorf("the server refused: %w", err)
		}
		return nil
	}
	// waitDial waits until dial's outcome is ok's, and returns its error.
	waitDial := func(reloading, ok bool) error {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			err := dial("127.0.0.1", reloading)
			if (err == nil) == ok || time.Now().After(deadline) {
				return err
			}
			time.Sleep(50 * time.Millisecond) // polling a condition, bounded above
		}
	}

	// Under a's CA alone, the dialer does not trust b's server, and the
	// server does not admit b's client.
	if err := dial("127.0.0.1", true); err == nil || !strings.Contains(err.Error(), "unknown authority") {
		t.Fatalf("b's server trusted under a's CA: %v", err)
	}
	if err := dial("127.0.0.1", false); err == nil || !strings.Contains(err.Error(), "the server refused") {
		t.Fatalf("b's client admitted under a's CA: %v", err)
	}
	install(a.CAFile, b.CAFile) // a bundle: the middle of a rotation
	if err := waitDial(false, true); err != nil {
		t.Fatalf("b's CA added, the server still refuses b's client: %v", err)
	}
	if err := dial("127.0.0.1", true); err != nil {
		t.Fatalf("b's CA added, the dialer still refuses b's server: %v", err)
	}
	// The name is checked as RootCAs and ServerName would check it.
	if err := dial("cairn.invalid", true); err == nil || !strings.Contains(err.Error(), "not valid for") {
		t.Fatalf("a certificate for 127.0.0.1 accepted for cairn.invalid: %v", err)
	}
	if err := dial("", true); err == nil {
		t.Fatal("a certificate accepted without a name to check")
	}

	// Half written: the bundle stays.
	if err := os.WriteFile(caFile, []byte("-----BEGIN CERT"), 0o600); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * certRecheck)
	for time.Now().Before(deadline) {
		if err := dial("127.0.0.1", true); err != nil {
			t.Fatalf("an unreadable CA file replaced the good one: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	install(a.CAFile) // b's CA gone again
	if err := waitDial(false, false); err == nil {
		t.Fatal("b's CA removed, the server still admits b's client")
	}
	if err := dial("127.0.0.1", true); err == nil {
		t.Fatal("b's CA removed, the dialer still trusts b's server")
	}
}
