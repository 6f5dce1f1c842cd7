package node

import (
	"crypto/tls"
	"log/slog"
	"strings"
	"testing"

	"github.com/cairnkv/cairn/node/testcert"
	"github.com/cairnkv/cairn/replication/transport"
)

// With peer TLS a cluster forms and replicates as without, and only a
// transport whose certificate the cluster's CA signed reaches a node: a
// plaintext one, one with a certificate of another CA and one with no
// certificate are refused at the TLS handshake and counted; one with a
// certificate of the right CA gets a forged heartbeat through (the
// control, last: TLS is what kept the others out).
func TestPeerTLS(t *testing.T) {
	hosts := []string{"127.0.1.1", "127.0.1.2", "127.0.1.3", "127.0.0.1"}
	ca := testcert.New(t, hosts...)
	other := testcert.New(t, hosts...)
	c := startTestCluster(t, 3, func(cfg *Config) {
		cfg.PeerTLSCert, cfg.PeerTLSKey, cfg.PeerTLSCA = ca.CertFile, ca.KeyFile, ca.CAFile
	})
	c.waitMetaVoters(3)
	writeAndReadEverywhere(t, c)
	n := c.nodes[1]

	// Each trusts the cluster: only its own certificate is in question.
	withCert := func(s *testcert.Set) func(string) *tls.Config {
		return func(host string) *tls.Config {
			cfg := ca.Client()
			cfg.ServerName, cfg.Certificates = host, s.Server.Certificates
			return cfg
		}
	}
	noCert := func(host string) *tls.Config {
		cfg := ca.Client()
		cfg.ServerName = host
		return cfg
	}
	for _, tc := range []struct {
		name        string
		tls         *transport.TLS
		getsThrough bool
	}{
		{"plaintext", nil, false},
		{"certificate of another CA", &transport.TLS{Server: other.Server, Client: withCert(other)}, false},
		{"no certificate", &transport.TLS{Server: ca.Server, Client: noCert}, false},
		{"certificate of the cluster's CA", &transport.TLS{Server: ca.Server, Client: withCert(ca)}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			failed := n.cluster.tr.Stats().TLSFailures
			stranger := dialerWith(t, n, strangerID, func(cfg *transport.Config) { cfg.TLS = tc.tls })
			if got := forgedHeartbeatGetsThrough(t, n, stranger); got != tc.getsThrough {
				t.Fatalf("forged heartbeat got through: %v, want %v", got, tc.getsThrough)
			}
			if refused := n.cluster.tr.Stats().TLSFailures > failed; refused == tc.getsThrough {
				t.Fatalf("TLS failures counted: %v, want %v", refused, !tc.getsThrough)
			}
			if !tc.getsThrough {
				writeAndReadEverywhere(t, c) // undisturbed
			}
		})
	}
}

// Peer TLS settings are checked at start: all three files, a CA file
// with a certificate in it, and a node certificate that CA signed for
// both ends of a connection.
func TestLoadPeerTLS(t *testing.T) {
	ca := testcert.New(t, "127.0.0.1")
	other := testcert.New(t, "127.0.0.1")
	for _, tc := range []struct {
		name              string
		cert, key, caFile string
		wantNil           bool
		wantErr           string
	}{
		{"none", "", "", "", true, ""},
		{"all three", ca.CertFile, ca.KeyFile, ca.CAFile, false, ""},
		{"no CA", ca.CertFile, ca.KeyFile, "", false, "go together"},
		{"only a CA", "", "", ca.CAFile, false, "go together"},
		{"no key", ca.CertFile, "", ca.CAFile, false, "go together"},
		{"CA file is not PEM", ca.CertFile, ca.KeyFile, ca.KeyFile, false, "no PEM certificate"},
		{"missing CA file", ca.CertFile, ca.KeyFile, ca.CAFile + ".missing", false, "peer-tls-ca"},
		{"certificate of another CA", other.CertFile, other.KeyFile, ca.CAFile, false, "not valid for server authentication"},
		{"key of another certificate", ca.CertFile, other.KeyFile, ca.CAFile, false, "peer-tls-cert"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := loadPeerTLS(tc.cert, tc.key, tc.caFile, slog.Default())
			switch {
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tc.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			case (got == nil) != tc.wantNil:
				t.Fatalf("got %+v, want nil: %v", got, tc.wantNil)
			}
		})
	}
}

// A peer address given as a host name is announced as given, so peers
// dial (and check a peer TLS certificate against) the name; an IP
// address, an empty host or a :0 port is announced as bound.
func TestAdvertisedPeerAddr(t *testing.T) {
	for _, tc := range []struct{ configured, bound, want string }{
		{"cairn1:6222", "172.18.0.2:6222", "cairn1:6222"},
		{"node1.internal:6222", "10.0.0.11:6222", "node1.internal:6222"},
		{"localhost:6222", "127.0.0.1:6222", "localhost:6222"},
		{"10.0.0.11:6222", "10.0.0.11:6222", "10.0.0.11:6222"},
		{"0.0.0.0:6222", "[::]:6222", "[::]:6222"},
		{":6222", "[::]:6222", "[::]:6222"},
		{"127.0.1.1:0", "127.0.1.1:40001", "127.0.1.1:40001"},
		{"localhost:0", "127.0.0.1:40002", "127.0.0.1:40002"},
		{"not an address", "127.0.0.1:6222", "127.0.0.1:6222"},
	} {
		if got := advertisedPeerAddr(tc.configured, tc.bound); got != tc.want {
			t.Errorf("advertisedPeerAddr(%q, %q) = %q, want %q", tc.configured, tc.bound, got, tc.want)
		}
	}
}
