package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// cairn tls cert makes a CA once and certificates signed by it, valid
// for the hosts asked for as TLS server and client; run again, it keeps
// what still fits and refuses to replace what does not.
func TestTLSCert(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	run := func(args ...string) (string, error) {
		t.Helper()
		cmd := newRootCmd()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs(append([]string{"tls", "cert", "--dir", dir}, args...))
		err := cmd.Execute()
		return out.String(), err
	}
	out, err := run("--hosts", "127.0.0.1,localhost")
	if err != nil || !strings.Contains(out, "made a CA") || !strings.Contains(out, "made "+filepath.Join(dir, "node.pem")) {
		t.Fatalf("first run: %v\n%s", err, out)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	for name, mode := range map[string]os.FileMode{"ca.pem": 0o644, "ca-key.pem": 0o600, "node.pem": 0o644, "node-key.pem": 0o600} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil || st.Mode().Perm() != mode {
			t.Fatalf("%s: %v, mode %v, want %v", name, err, st.Mode().Perm(), mode)
		}
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	checkCert := func(name string, hosts ...string) {
		t.Helper()
		pair, err := tls.LoadX509KeyPair(filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem"))
		if err != nil {
			t.Fatal(err)
		}
		leaf, err := x509.ParseCertificate(pair.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hosts {
			for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
				if _, err := leaf.Verify(x509.VerifyOptions{DNSName: h, Roots: pool, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
					t.Fatalf("%s for %s (usage %v): %v", name, h, usage, err)
				}
			}
		}
	}
	checkCert("node", "127.0.0.1", "localhost")

	if out, err := run("--hosts", "localhost"); err != nil || !strings.Contains(out, "kept") {
		t.Fatalf("second run, fewer hosts: %v\n%s", err, out)
	}
	if out, err := run("--hosts", "127.0.0.2"); err == nil || !strings.Contains(err.Error(), "will not do for 127.0.0.2") {
		t.Fatalf("another host, same name: %v\n%s", err, out)
	}
	if out, err := run("--name", "n2", "--hosts", "n2.internal", "--days", "10"); err != nil || strings.Contains(out, "made a CA") {
		t.Fatalf("a second certificate: %v\n%s", err, out)
	}
	checkCert("n2", "n2.internal")
	if again, _ := os.ReadFile(filepath.Join(dir, "ca.pem")); !bytes.Equal(again, caPEM) {
		t.Fatal("the CA was replaced")
	}
	// Expiring within 30 days: not kept.
	if out, err := run("--name", "n2", "--hosts", "n2.internal"); err == nil || !strings.Contains(err.Error(), "in 30 days") {
		t.Fatalf("a certificate about to expire kept: %v\n%s", err, out)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{}, "--hosts is required"},
		{[]string{"--hosts", "a", "--name", "ca"}, "--name"},
		{[]string{"--hosts", "a", "--name", "x/y"}, "--name"},
		{[]string{"--hosts", "a", "--days", "0"}, "at least 1"},
		{[]string{"--hosts", "a,,b"}, "empty host"},
	} {
		if _, err := run(tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
	// A certificate whose key is gone: not kept.
	if err := os.Remove(filepath.Join(dir, "node-key.pem")); err != nil {
		t.Fatal(err)
	}
	if _, err := run("--hosts", "localhost"); err == nil || !strings.Contains(err.Error(), "cannot be used with its key") {
		t.Fatalf("a certificate without its key kept: %v", err)
	}
	// Half a CA: refused, not replaced.
	if err := os.Remove(filepath.Join(dir, "ca-key.pem")); err != nil {
		t.Fatal(err)
	}
	if _, err := run("--name", "n3", "--hosts", "x"); err == nil || !strings.Contains(err.Error(), "only one of") {
		t.Fatalf("half a CA: %v", err)
	}
}
