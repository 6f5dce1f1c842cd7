package node

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

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
		on                           bool
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
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := loadClientTLS(tc.cert, tc.key, tc.ca)
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
			if got != nil && tc.ca != "" && got.Peers.RootCAs == nil {
				t.Fatal("the CA is not what peers are checked against")
			}
		})
	}
}
