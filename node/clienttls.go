package node

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
)

// ClientTLS is the TLS of the NATS port and the HTTP API
// (Config.ClientTLSCert, ClientTLSKey, ClientTLSCA): what the node's
// listeners present, and how it checks other nodes' listeners when it
// connects to them (forwarded requests) and its own (in-process mounts).
type ClientTLS struct {
	// Server is the listeners' configuration.
	Server *tls.Config
	// peers is the base of PeerConfig.
	peers *tls.Config
	ca    *caLoader // nil: the system's roots
	// Self accepts exactly this node's own certificate, whatever address
	// it is reached at (a listener on 0.0.0.0 has no name to check).
	Self *tls.Config
}

// loadClientTLS reads the certificate, key and CA files; nil when no
// certificate is configured.
func loadClientTLS(certFile, keyFile, caFile string, verify bool, lg *slog.Logger) (*ClientTLS, error) {
	if certFile == "" && keyFile == "" {
		if verify {
			return nil, errors.New("client-tls-verify without client-tls-cert and client-tls-key: it asks clients of a TLS port for certificates")
		}
		if caFile != "" {
			return nil, errors.New("client-tls-ca without client-tls-cert and client-tls-key: the CA checks other nodes' certificates, so this node needs one too")
		}
		return nil, nil
	}
	if certFile == "" || keyFile == "" {
		return nil, errors.New("client-tls-cert and client-tls-key go together")
	}
	cl, err := newCertLoader("client-tls", certFile, keyFile, lg)
	if err != nil {
		return nil, err
	}
	var ca *caLoader
	if caFile != "" {
		if ca, err = loadCA("client-tls-ca", caFile, lg); err != nil {
			return nil, err
		}
	}
	if verify && ca == nil {
		return nil, errors.New("client-tls-verify needs client-tls-ca: the CA that signs the clients' certificates")
	}
	ct := &ClientTLS{
		Server: &tls.Config{GetCertificate: cl.get, MinVersion: tls.VersionTLS12},
		peers:  &tls.Config{MinVersion: tls.VersionTLS12},
		ca:     ca,
		Self: &tls.Config{
			MinVersion: tls.VersionTLS12,
			// Verified below instead: pinned to our own certificate.
			InsecureSkipVerify: true, //nolint:gosec
			VerifyConnection: func(cs tls.ConnectionState) error {
				if len(cs.PeerCertificates) == 0 || !bytes.Equal(cs.PeerCertificates[0].Raw, cl.current().Certificate[0]) {
					return errors.New("the client port presented a certificate that is not this node's")
				}
				return nil
			},
		},
	}
	if verify {
		ct.Server.ClientAuth = tls.RequireAndVerifyClientCert
		ct.Server = ca.verifyingServer(ct.Server)
		// This node shows its own certificate to the others, and to
		// itself (its mounts).
		ct.peers.GetClientCertificate, ct.Self.GetClientCertificate = cl.own, cl.own
	}
	return ct, nil
}

// PeerConfig is the configuration for connecting to another node's
// client or HTTP port at addr (host:port, or a host): it checks the
// node's certificate against ClientTLSCA (read anew when it changes), or
// the system's roots without one, and against addr's host, and presents
// this node's certificate when clients must.
func (t *ClientTLS) PeerConfig(addr string) *tls.Config {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	cfg := t.peers.Clone()
	if t.ca != nil {
		t.ca.verifyServer(cfg, host)
	} else {
		cfg.ServerName = host
	}
	return cfg
}

// certLoader is a node's certificate and key (client-tls-cert and -key,
// or peer-tls-*), reloaded when the files change.
type certLoader struct {
	*reloading[*tls.Certificate]
}

func newCertLoader(what, certFile, keyFile string, lg *slog.Logger) (*certLoader, error) {
	r, err := newReloading("TLS certificate", what, []string{certFile, keyFile}, func() (*tls.Certificate, error) {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("%s-cert %s, %s-key %s: %w", what, certFile, what, keyFile, err)
		}
		return &pair, nil
	}, lg)
	if err != nil {
		return nil, err
	}
	return &certLoader{r}, nil
}

// get is the listeners' GetCertificate.
func (c *certLoader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) { return c.fresh(), nil }

// own presents this node's certificate to a server that asks for one.
func (c *certLoader) own(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return c.fresh(), nil
}
