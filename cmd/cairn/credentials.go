package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/cairnkv/cairn/node/jetstream"
	"github.com/nats-io/nats.go"
	"github.com/spf13/pflag"
)

// Environment variables for the client verbs' credentials, as the
// --user, --password and --token flags (which win).
const (
	envUser     = envPrefix + "_USER"
	envPassword = envPrefix + "_PASSWORD"
	envToken    = envPrefix + "_TOKEN"
	envTLSCA    = envPrefix + "_TLS_CA"
	envTLSCert  = envPrefix + "_TLS_CERT"
	envTLSKey   = envPrefix + "_TLS_KEY"
)

// credentials are what the client verbs present to nodes started with
// --client-token or --client-users: a token, or a user and password.
// Credentials in a URL (nats://TOKEN@host, http://USER:PASS@host) work
// too; these flags keep them out of URLs that end up in shell history.
type credentials struct {
	user, password, token string
	// tlsCA is a PEM file of the CA(s) that signed the nodes' client
	// certificates (--client-tls-cert), when not a system root.
	tlsCA string
	// tlsCert and tlsKey are the client certificate for nodes started
	// with --client-tls-verify.
	tlsCert, tlsKey string
}

func (c *credentials) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.user, "user", "", "user `NAME` to authenticate as (or set "+envUser+"), for nodes started with --client-users")
	fs.StringVar(&c.password, "password", "", "password of --user (or set "+envPassword+")")
	fs.StringVar(&c.token, "token", "", "token to authenticate with (or set "+envToken+"), for nodes started with --client-token")
	fs.StringVar(&c.tlsCert, "tls-cert", "", "PEM client certificate `FILE` (or set "+envTLSCert+"), for nodes started with --client-tls-verify")
	fs.StringVar(&c.tlsKey, "tls-key", "", "PEM private key `FILE` of --tls-cert (or set "+envTLSKey+")")
	fs.StringVar(&c.tlsCA, "tls-ca", "", "PEM `FILE` of the CA that signed the nodes' TLS certificates (or set "+envTLSCA+"), for nodes started with --client-tls-cert")
}

// resolved returns the flags' values, each falling back to its
// environment variable; when none is set, the node's own credential
// (the first of CAIRN_CLIENT_TOKEN or CAIRN_CLIENT_USERS) and TLS
// settings (CAIRN_CLIENT_TLS_CA, _CERT, _KEY), so that a verb run where
// the node runs (a container's health check) gets in.
func (c credentials) resolved() credentials {
	pick := func(flag, env string) string {
		if flag != "" {
			return flag
		}
		return os.Getenv(env)
	}
	r := credentials{user: pick(c.user, envUser), password: pick(c.password, envPassword), token: pick(c.token, envToken)}
	ca, cert, key := pick(c.tlsCA, envTLSCA), pick(c.tlsCert, envTLSCert), pick(c.tlsKey, envTLSKey)
	if r == (credentials{}) {
		if t, _, _ := strings.Cut(os.Getenv(envPrefix+"_CLIENT_TOKEN"), ","); t != "" {
			r.token = t
		} else if u, _, _ := strings.Cut(os.Getenv(envPrefix+"_CLIENT_USERS"), ","); u != "" {
			r.user, r.password, _ = strings.Cut(u, ":")
		}
	}
	// Likewise the node's TLS settings: its CA (which signed its own
	// certificate), and its certificate as a client certificate (for
	// --client-tls-verify; sent only when a server asks).
	if ca == "" {
		ca = os.Getenv(envPrefix + "_CLIENT_TLS_CA")
	}
	if cert == "" && key == "" {
		cert, key = os.Getenv(envPrefix+"_CLIENT_TLS_CERT"), os.Getenv(envPrefix+"_CLIENT_TLS_KEY")
	}
	r.tlsCA, r.tlsCert, r.tlsKey = ca, cert, key
	return r
}

// natsOptions present the credentials to a NATS server.
func (c credentials) natsOptions() []nats.Option {
	r := c.resolved()
	opts := jetstream.CredentialOptions(r.user, r.password, r.token)
	if r.tlsCA != "" {
		opts = append(opts, nats.RootCAs(r.tlsCA))
	}
	if r.tlsCert != "" || r.tlsKey != "" {
		opts = append(opts, nats.ClientCert(r.tlsCert, r.tlsKey))
	}
	return opts
}

// httpClient is http.DefaultClient, or one that trusts --tls-ca.
func (c credentials) httpClient() (*http.Client, error) {
	r := c.resolved()
	if r.tlsCA == "" && r.tlsCert == "" && r.tlsKey == "" {
		return http.DefaultClient, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if r.tlsCA != "" {
		pem, err := os.ReadFile(r.tlsCA)
		if err != nil {
			return nil, fmt.Errorf("--tls-ca: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--tls-ca %s: no PEM certificate in it", r.tlsCA)
		}
	}
	if r.tlsCert != "" || r.tlsKey != "" {
		pair, err := tls.LoadX509KeyPair(r.tlsCert, r.tlsKey)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert %s, --tls-key %s: %w", r.tlsCert, r.tlsKey, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = cfg
	return &http.Client{Transport: t}, nil
}

// authorize adds the credentials to an HTTP API request that carries
// none (credentials in its URL are sent as basic authentication).
func (c credentials) authorize(req *http.Request) {
	if req.Header.Get("Authorization") != "" || req.URL.User != nil {
		return
	}
	r := c.resolved()
	switch {
	case r.token != "":
		req.Header.Set("Authorization", "Bearer "+r.token)
	case r.user != "":
		req.SetBasicAuth(r.user, r.password)
	}
}

// explain adds to a TLS failure what the flags could fix: a CA to trust,
// or a client certificate. With TLS 1.3 a node that wants a certificate
// the client did not send is only seen to close the connection after
// the handshake, so that is read as "may ask".
func (c credentials) explain(err error) error {
	if err == nil {
		return nil
	}
	r := c.resolved()
	msg := err.Error()
	switch {
	case strings.Contains(msg, "unknown authority") && r.tlsCA == "":
		return fmt.Errorf("%w (the node's certificate is signed by a CA this machine does not trust: give --tls-ca FILE)", err)
	case r.tlsCert == "" && (strings.Contains(msg, "certificate required") || strings.Contains(msg, "bad certificate") ||
		strings.Contains(msg, "closed by remote after TLS handshake")):
		return fmt.Errorf("%w (the node may ask for a client certificate: give --tls-cert FILE --tls-key FILE)", err)
	case strings.Contains(strings.ToLower(msg), "authorization violation") && r.token == "" && r.user == "":
		return fmt.Errorf("%w (the node asks for a credential: give --token, or --user and --password)", err)
	case strings.Contains(strings.ToLower(msg), "authorization violation"):
		return fmt.Errorf("%w (the node refused the credential given)", err)
	}
	return err
}
