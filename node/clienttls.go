package node

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
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
	// Verify: clients must present a certificate the CA signed.
	Verify bool
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
	cl := &certLoader{what: "client-tls", certFile: certFile, keyFile: keyFile, lg: lg}
	if err := cl.load(); err != nil {
		return nil, err
	}
	var ca *caLoader
	if caFile != "" {
		var err error
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
		Verify: verify,
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
// client or HTTP port at host: it checks the node's certificate against
// ClientTLSCA (read anew when it changes), or the system's roots without
// one, and presents this node's certificate when clients must.
func (t *ClientTLS) PeerConfig(host string) *tls.Config {
	cfg := t.peers.Clone()
	if t.ca != nil {
		t.ca.verifyServer(cfg, host)
	} else {
		cfg.ServerName = host
	}
	return cfg
}

// certRecheck is how often a handshake may look at the certificate files
// for a renewed certificate.
const certRecheck = time.Second

// certLoader serves the certificate of the client listeners and reads
// it again when its files change, so a renewed certificate (one from an
// ACME client or cert-manager, written over the old) is used without a
// restart, as etcd does. A renewal that cannot be read (half written,
// key not matching yet) keeps the old certificate until it can.
type certLoader struct {
	what              string // the flags' prefix: client-tls, peer-tls
	certFile, keyFile string
	lg                *slog.Logger

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   string // the files' sizes and modification times when read
	checked time.Time
	failed  string // the stamp a reload last failed at (logged once)
}

// filesStamp identifies the files' current versions.
func (c *certLoader) filesStamp() (string, error) {
	var stamp string
	for _, f := range []string{c.certFile, c.keyFile} {
		st, err := os.Stat(f)
		if err != nil {
			return "", err
		}
		stamp += fmt.Sprintf("%d/%d;", st.Size(), st.ModTime().UnixNano())
	}
	return stamp, nil
}

// load reads the files (at start: an error stops the node).
func (c *certLoader) load() error {
	stamp, err := c.filesStamp()
	if err == nil {
		var pair tls.Certificate
		if pair, err = tls.LoadX509KeyPair(c.certFile, c.keyFile); err == nil {
			c.cert, c.stamp = &pair, stamp
			return nil
		}
	}
	return fmt.Errorf("%s-cert %s, %s-key %s: %w", c.what, c.certFile, c.what, c.keyFile, err)
}

func (c *certLoader) current() *tls.Certificate {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cert
}

// get is the listeners' GetCertificate.
func (c *certLoader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) { return c.fresh(), nil }

// own presents this node's certificate to a server that asks for one.
func (c *certLoader) own(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return c.fresh(), nil
}

// fresh is the certificate, read again first when its files changed
// (looked at most once per certRecheck).
func (c *certLoader) fresh() *tls.Certificate {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.checked) < certRecheck {
		return c.cert
	}
	c.checked = time.Now()
	stamp, err := c.filesStamp()
	if err != nil || stamp == c.stamp || stamp == c.failed {
		return c.cert
	}
	old := c.cert
	if err := c.load(); err != nil {
		c.cert, c.failed = old, stamp
		c.lg.Warn("TLS certificate changed but cannot be read; serving the previous one", "which", c.what, "err", err)
		return c.cert
	}
	c.failed = ""
	c.lg.Info("TLS certificate reloaded", "which", c.what, "cert", c.certFile)
	return c.cert
}
