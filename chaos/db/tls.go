package db

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"slices"

	"github.com/cairnkv/cairn/bench/cluster"
	"github.com/cairnkv/cairn/node/testcert"
	"github.com/nats-io/nats.go"
)

// withTLS makes the run's CA and the nodes' certificate (one for every
// node address, kept in the run's directory) and returns the nodes'
// environment with their client and peer TLS settings: the peer port
// uses the same certificate and CA (mutual TLS between nodes).
func (l *Local) withTLS(nodes []cluster.Node) ([]string, error) {
	hosts := []string{"127.0.0.1"}
	for _, n := range nodes {
		for _, a := range []string{n.ClientAddr, n.HTTPAddr, n.PeerAddr} {
			if h, _, err := net.SplitHostPort(a); err == nil && !slices.Contains(hosts, h) {
				hosts = append(hosts, h)
			}
		}
	}
	set, err := testcert.Generate(filepath.Join(l.o.Dir, "tls"), hosts...)
	if err != nil {
		return nil, fmt.Errorf("making the run's TLS certificates: %w", err)
	}
	l.tls = set
	// The harness's own HTTP calls (readiness, membership) trust it too,
	// and show the certificate, which the CA signed for clients as well:
	// the nodes require client certificates (client-tls-verify).
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = l.clientTLS()
	l.http = &http.Client{Transport: t, Timeout: httpClient.Timeout}
	return append(slices.Clone(l.o.Env),
		"CAIRN_CLIENT_TLS_CERT="+set.CertFile, "CAIRN_CLIENT_TLS_KEY="+set.KeyFile, "CAIRN_CLIENT_TLS_CA="+set.CAFile,
		"CAIRN_CLIENT_TLS_VERIFY=true",
		"CAIRN_PEER_TLS_CERT="+set.CertFile, "CAIRN_PEER_TLS_KEY="+set.KeyFile, "CAIRN_PEER_TLS_CA="+set.CAFile), nil
}

// clientTLS trusts the run's CA and presents the run's certificate.
func (l *Local) clientTLS() *tls.Config {
	c := l.tls.Client()
	c.Certificates = l.tls.Server.Certificates
	return c
}

// scheme is plain, or its TLS form (tls, https) when the cluster uses
// TLS.
func (l *Local) scheme(plain string) string {
	if l.tls == nil {
		return plain
	}
	if plain == "http" {
		return "https"
	}
	return "tls"
}

// NATSOptions are what clients of the cluster need besides its URLs: the
// run's CA when it uses TLS.
func (l *Local) NATSOptions() []nats.Option {
	if l.tls == nil {
		return nil
	}
	return []nats.Option{nats.Secure(l.clientTLS())}
}
