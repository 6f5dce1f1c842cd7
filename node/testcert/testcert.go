// Package testcert makes a throwaway certificate authority and a
// certificate signed by it, for tests of the TLS listeners and for the
// chaos harness's clusters: real certificates on real sockets, made for
// one run, never checked in.
//
// It owns nothing else; nodes never import it (their certificates are
// the operator's). The certificates come from node/tlsgen, as `cairn
// tls` makes them.
package testcert

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cairnkv/cairn/node/tlsgen"
)

// Set is a CA and one server certificate for the hosts asked for, as PEM
// files in a test's temporary directory and as ready configurations.
type Set struct {
	CAFile, CertFile, KeyFile string
	// Pool holds the CA; Server presents the certificate.
	Pool   *x509.CertPool
	Server *tls.Config
}

// New makes a Set in a test's temporary directory whose certificate is
// valid for hosts (IP addresses or names) for a day.
func New(t testing.TB, hosts ...string) *Set {
	t.Helper()
	s, err := Generate(t.TempDir(), hosts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Generate makes a Set in dir (created if missing; files there are
// overwritten) whose certificate is valid for hosts for a day.
func Generate(dir string, hosts ...string) (*Set, error) {
	ca, err := tlsgen.NewCA("cairn throwaway CA", 24*time.Hour)
	if err != nil {
		return nil, err
	}
	certPEM, keyPEM, err := ca.Issue("cairn node", hosts, 24*time.Hour)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	s := &Set{CAFile: filepath.Join(dir, "ca.pem"), CertFile: filepath.Join(dir, "node.pem"), KeyFile: filepath.Join(dir, "node-key.pem")}
	for path, data := range map[string][]byte{s.CAFile: ca.CertPEM, s.CertFile: certPEM, s.KeyFile: keyPEM} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return nil, err
		}
	}
	s.Pool = x509.NewCertPool()
	s.Pool.AddCert(ca.Cert)
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	s.Server = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	return s, nil
}

// Client returns a client configuration that trusts the CA.
func (s *Set) Client() *tls.Config {
	return &tls.Config{RootCAs: s.Pool, MinVersion: tls.VersionTLS12}
}
