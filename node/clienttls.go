package node

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// ClientTLS is the TLS of the NATS port and the HTTP API
// (Config.ClientTLSCert, ClientTLSKey, ClientTLSCA): what the node's
// listeners present, and how it checks other nodes' listeners when it
// connects to them (forwarded requests) and its own (in-process mounts).
type ClientTLS struct {
	// Server is the listeners' configuration.
	Server *tls.Config
	// Peers verifies another node's certificate: against ClientTLSCA,
	// or the system's roots without one.
	Peers *tls.Config
	// Self accepts exactly this node's own certificate, whatever address
	// it is reached at (a listener on 0.0.0.0 has no name to check).
	Self *tls.Config
}

// loadClientTLS reads the certificate, key and CA files; nil when no
// certificate is configured.
func loadClientTLS(certFile, keyFile, caFile string) (*ClientTLS, error) {
	if certFile == "" && keyFile == "" {
		if caFile != "" {
			return nil, errors.New("client-tls-ca without client-tls-cert and client-tls-key: the CA checks other nodes' certificates, so this node needs one too")
		}
		return nil, nil
	}
	if certFile == "" || keyFile == "" {
		return nil, errors.New("client-tls-cert and client-tls-key go together")
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("client-tls-cert %s, client-tls-key %s: %w", certFile, keyFile, err)
	}
	var roots *x509.CertPool
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("client-tls-ca: %w", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("client-tls-ca %s: no PEM certificate in it", caFile)
		}
	}
	own := pair.Certificate[0]
	return &ClientTLS{
		Server: &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12},
		Peers:  &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		Self: &tls.Config{
			MinVersion: tls.VersionTLS12,
			// Verified below instead: pinned to our own certificate.
			InsecureSkipVerify: true, //nolint:gosec
			VerifyConnection: func(cs tls.ConnectionState) error {
				if len(cs.PeerCertificates) == 0 || !bytes.Equal(cs.PeerCertificates[0].Raw, own) {
					return errors.New("the client port presented a certificate that is not this node's")
				}
				return nil
			},
		},
	}, nil
}
