package node

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
)

// caLoader holds the certificates of a CA file (client-tls-ca,
// peer-tls-ca), reloaded when the file changes, so a CA is rotated
// without a restart: write a bundle of the old and the new CA, move the
// nodes' certificates to the new one, then write the new CA alone.
type caLoader struct {
	*reloading[*x509.CertPool]
}

// loadCA reads file (at start: an error stops the node).
func loadCA(what, file string, lg *slog.Logger) (*caLoader, error) {
	r, err := newReloading("CA file", what, []string{file}, func() (*x509.CertPool, error) {
		pem, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s %s: no PEM certificate in it", what, file)
		}
		return pool, nil
	}, lg)
	if err != nil {
		return nil, err
	}
	return &caLoader{r}, nil
}

// verifyServer makes cfg, a configuration for dialing host, check the
// server's certificate against the current CAs and host, as RootCAs and
// ServerName would but with the CAs read anew: it replaces the built-in
// verification (InsecureSkipVerify) with the same checks. (A
// ConnectionState does not carry the name dialed: no SNI is sent for an
// IP address, hence host.)
func (c *caLoader) verifyServer(cfg *tls.Config, host string) {
	cfg.ServerName = host
	cfg.InsecureSkipVerify = true //nolint:gosec // verified in VerifyConnection
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		switch {
		case len(cs.PeerCertificates) == 0:
			return errors.New("tls: the server presented no certificate")
		case host == "":
			return errors.New("tls: no server name to check the certificate against")
		}
		opts := x509.VerifyOptions{DNSName: host, Roots: c.fresh(), Intermediates: x509.NewCertPool()}
		for _, inter := range cs.PeerCertificates[1:] {
			opts.Intermediates.AddCert(inter)
		}
		_, err := cs.PeerCertificates[0].Verify(opts)
		return err
	}
}

// verifyingServer returns a server configuration that serves base with
// ClientCAs the current CAs (base asks for client certificates). The
// configuration of a handshake is made anew only when the CAs changed.
func (c *caLoader) verifyingServer(base *tls.Config) *tls.Config {
	var (
		mu   sync.Mutex
		last *x509.CertPool
		cfg  *tls.Config
	)
	return &tls.Config{
		MinVersion: base.MinVersion,
		// Read by the NATS port for INFO's tls_verify; the handshake
		// uses what GetConfigForClient returns.
		ClientAuth: base.ClientAuth,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			pool := c.fresh()
			mu.Lock()
			defer mu.Unlock()
			if pool != last {
				cfg = base.Clone()
				cfg.ClientCAs = pool
				last = pool
			}
			return cfg, nil
		},
	}
}
