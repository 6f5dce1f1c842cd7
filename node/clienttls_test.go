package node

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairnkv/cairn/node/testcert"
)

func TestLoadClientTLS(t *testing.T) {
	certs := testcert.New(t, "127.0.0.1")
	notPEM := filepath.Join(t.TempDir(), "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, cert, key, ca, wantErr string
		on, verify                   bool
	}{
		{name: "off"},
		{name: "cert and key", cert: certs.CertFile, key: certs.KeyFile, on: true},
		{name: "with CA", cert: certs.CertFile, key: certs.KeyFile, ca: certs.CAFile, on: true},
		{name: "cert alone", cert: certs.CertFile, wantErr: "go together"},
		{name: "key alone", key: certs.KeyFile, wantErr: "go together"},
		{name: "CA alone", ca: certs.CAFile, wantErr: "needs one too"},
		{name: "key of another", cert: certs.CertFile, key: testcert.New(t, "x").KeyFile, wantErr: "private key does not match"},
		{name: "missing file", cert: "/nonexistent.pem", key: certs.KeyFile, wantErr: "no such file"},
		{name: "CA not PEM", cert: certs.CertFile, key: certs.KeyFile, ca: notPEM, wantErr: "no PEM certificate"},
		{name: "verify", cert: certs.CertFile, key: certs.KeyFile, ca: certs.CAFile, verify: true, on: true},
		{name: "verify without CA", cert: certs.CertFile, key: certs.KeyFile, verify: true, wantErr: "needs client-tls-ca"},
		{name: "verify without TLS", verify: true, wantErr: "without client-tls-cert"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := loadClientTLS(tc.cert, tc.key, tc.ca, tc.verify, slog.Default())
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (got != nil) != tc.on {
				t.Fatalf("TLS on: %v, want %v", got != nil, tc.on)
			}
			if got != nil && (got.ca != nil) != (tc.ca != "") {
				t.Fatalf("peers checked against a CA file: %v, want %v", got.ca != nil, tc.ca != "")
			}
			if got != nil && (got.Server.ClientAuth == tls.RequireAndVerifyClientCert) != tc.verify {
				t.Fatalf("client certificates required: %v, want %v", got.Server.ClientAuth, tc.verify)
			}
		})
	}
}

// A certificate written over the old one is served from the next
// handshake on (after at most certRecheck); one that cannot be read
// leaves the old one in place.
func TestClientTLSReload(t *testing.T) {
	a, b := testcert.New(t, "127.0.0.1"), testcert.New(t, "127.0.0.1")
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	install := func(s *testcert.Set) {
		t.Helper()
		for from, to := range map[string]string{s.CertFile: certFile, s.KeyFile: keyFile} {
			data, err := os.ReadFile(from)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(to, data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	leaf := func(s *testcert.Set) []byte { return s.Server.Certificates[0].Certificate[0] }
	install(a)
	ct, err := loadClientTLS(certFile, keyFile, "", false, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	serving := func() []byte {
		c, err := ct.Server.GetCertificate(&tls.ClientHelloInfo{})
		if err != nil {
			t.Fatal(err)
		}
		return c.Certificate[0]
	}
	if !bytes.Equal(serving(), leaf(a)) {
		t.Fatal("not serving the certificate it was started with")
	}
	waitServing := func(want []byte) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !bytes.Equal(serving(), want) {
			if time.Now().After(deadline) {
				t.Fatal("the renewed certificate was not picked up")
			}
			time.Sleep(50 * time.Millisecond) // polling a condition, bounded above
		}
	}
	install(b)
	waitServing(leaf(b))
	if err := ct.Self.VerifyConnection(tls.ConnectionState{PeerCertificates: []*x509.Certificate{mustParse(t, leaf(b))}}); err != nil {
		t.Fatalf("mounts refuse the renewed certificate: %v", err)
	}
	// Garbage over it: the renewed certificate stays.
	if err := os.WriteFile(certFile, []byte("half written"), 0o600); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * certRecheck)
	for time.Now().Before(deadline) {
		if !bytes.Equal(serving(), leaf(b)) {
			t.Fatal("an unreadable certificate replaced the good one")
		}
		time.Sleep(50 * time.Millisecond)
	}
	install(a)
	waitServing(leaf(a))
}

func mustParse(t *testing.T, der []byte) *x509.Certificate {
	t.Helper()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
