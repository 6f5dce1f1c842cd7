package node

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"

	"github.com/cairnkv/cairn/replication/transport"
)

// loadPeerTLS reads Config.PeerTLSCert, PeerTLSKey and PeerTLSCA: the
// peer port's mutual TLS, as etcd's --peer-cert-file, --peer-key-file,
// --peer-trusted-ca-file with --peer-client-cert-auth. Every node
// presents its certificate in both directions and takes only peers whose
// certificate the CA signed; a dialing node also checks that the
// certificate names the address it dialed. nil when none is set.
//
// The certificate and the CA file are read again when they change
// (certLoader, caLoader), so a renewed certificate or a rotated CA is
// used from the next connection on without a restart.
func loadPeerTLS(certFile, keyFile, caFile string, lg *slog.Logger) (*transport.TLS, error) {
	if certFile == "" && keyFile == "" && caFile == "" {
		return nil, nil
	}
	if certFile == "" || keyFile == "" || caFile == "" {
		return nil, errors.New("peer-tls-cert, peer-tls-key and peer-tls-ca go together: peers authenticate each other with certificates the CA signed")
	}
	cl, err := newCertLoader("peer-tls", certFile, keyFile, lg)
	if err != nil {
		return nil, err
	}
	ca, err := loadCA("peer-tls-ca", caFile, lg)
	if err != nil {
		return nil, err
	}
	if err := checkPeerCert(cl.current(), ca.current()); err != nil {
		return nil, fmt.Errorf("peer-tls-cert %s: %w", certFile, err)
	}
	return &transport.TLS{
		Server: ca.verifyingServer(&tls.Config{
			MinVersion:     tls.VersionTLS12,
			GetCertificate: cl.get,
			ClientAuth:     tls.RequireAndVerifyClientCert,
		}),
		Client: func(host string) *tls.Config {
			cfg := &tls.Config{MinVersion: tls.VersionTLS12, GetClientCertificate: cl.own}
			ca.verifyServer(cfg, host)
			return cfg
		},
	}, nil
}

// checkPeerCert refuses at start a certificate the other nodes would
// refuse at every connection: one the CA did not sign, or one not made
// for both ends of a connection (a node is a TLS server and a TLS client
// of its peers).
func checkPeerCert(cert *tls.Certificate, roots *x509.CertPool) error {
	leaf := cert.Leaf
	if leaf == nil {
		var err error
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return err
		}
	}
	inter := x509.NewCertPool()
	for _, der := range cert.Certificate[1:] {
		if c, err := x509.ParseCertificate(der); err == nil {
			inter.AddCert(c)
		}
	}
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		_, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{usage}})
		if err != nil {
			return fmt.Errorf("not valid for %s under peer-tls-ca (peers use it as TLS server and client, so it needs both serverAuth and clientAuth): %w", usageName(usage), err)
		}
	}
	return nil
}

func usageName(u x509.ExtKeyUsage) string {
	if u == x509.ExtKeyUsageClientAuth {
		return "client authentication"
	}
	return "server authentication"
}
