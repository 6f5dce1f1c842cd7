package node

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// caLoader holds the certificates of a CA file (client-tls-ca,
// peer-tls-ca) and reads the file again when it changes, looking at
// most once per certRecheck, so a CA is rotated without a restart: write
// a bundle of the old and the new CA, move the nodes' certificates to
// the new one, then write the new CA alone. A change that cannot be read
// (half written, no certificate in it) keeps the previous CAs in
// service, as certLoader does for certificates.
type caLoader struct {
	what, file string // what: the flag, for messages
	lg         *slog.Logger

	mu      sync.Mutex
	pool    *x509.CertPool
	stamp   string
	checked time.Time
	failed  string
}

// loadCA reads file (at start: an error stops the node).
func loadCA(what, file string, lg *slog.Logger) (*caLoader, error) {
	c := &caLoader{what: what, file: file, lg: lg}
	if err := c.load(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *caLoader) fileStamp() (string, error) {
	st, err := os.Stat(c.file)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d/%d", st.Size(), st.ModTime().UnixNano()), nil
}

func (c *caLoader) load() error {
	stamp, err := c.fileStamp()
	if err != nil {
		return fmt.Errorf("%s: %w", c.what, err)
	}
	pem, err := os.ReadFile(c.file)
	if err != nil {
		return fmt.Errorf("%s: %w", c.what, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return fmt.Errorf("%s %s: no PEM certificate in it", c.what, c.file)
	}
	c.pool, c.stamp = pool, stamp
	return nil
}

// current is the CA pool, read again first when the file changed.
func (c *caLoader) current() *x509.CertPool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.checked) < certRecheck {
		return c.pool
	}
	c.checked = time.Now()
	stamp, err := c.fileStamp()
	if err != nil || stamp == c.stamp || stamp == c.failed {
		return c.pool
	}
	old := c.pool
	if err := c.load(); err != nil {
		c.pool, c.failed = old, stamp
		c.lg.Warn("CA file changed but cannot be read; keeping the previous CAs", "which", c.what, "err", err)
		return c.pool
	}
	c.failed = ""
	c.lg.Info("CA file reloaded", "which", c.what, "file", c.file)
	return c.pool
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
		opts := x509.VerifyOptions{DNSName: host, Roots: c.current(), Intermediates: x509.NewCertPool()}
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
			pool := c.current()
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
