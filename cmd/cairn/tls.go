package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cairnkv/cairn/node/tlsgen"
	"github.com/spf13/cobra"
)

func init() { registerCommand(newTLSCmd) }

func newTLSCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tls",
		Short: "Make a CA and node certificates for TLS on the client and peer ports",
	}
	cmd.AddCommand(newTLSCertCmd())
	return cmd
}

// tlsCertFlags are `cairn tls cert`'s settings.
type tlsCertFlags struct {
	dir, name    string
	hosts        []string
	days, caDays int
}

func newTLSCertCmd() *cobra.Command {
	f := &tlsCertFlags{}
	cmd := &cobra.Command{
		Use:   "cert --dir DIR --hosts HOST[,HOST...]",
		Short: "Make a node certificate (and, the first time, the CA that signs it) in DIR",
		Long: `Make a node certificate, signed by the CA in DIR, valid for the given hosts
(the addresses and names clients and other nodes reach the node at) and
for both TLS server and client authentication, so one certificate serves
--client-tls-cert and --peer-tls-cert. The first time, it also makes the
CA (DIR/ca.pem, and DIR/ca-key.pem, which signs certificates: keep it
secret, and off the nodes if you can).

It never overwrites a file. Run again with the same name, it keeps a
certificate that the CA signed for all the hosts asked for and that is
valid for another 30 days, and fails otherwise; remove the old files to
make new ones (a node reloads them in place, without a restart).`,
		Example: `  cairn tls cert --dir tls --name node1 --hosts 10.0.0.11,node1.internal
  cairn tls cert --dir tls --name node2 --hosts 10.0.0.12,node2.internal
  # one certificate for every node of a test cluster:
  cairn tls cert --dir tls --hosts 127.0.0.1,localhost`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.run(cmd.OutOrStdout())
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.dir, "dir", "", "`DIR` that holds (or will hold) the CA and the certificates (required)")
	fs.StringVar(&f.name, "name", "node", "`NAME` of the certificate: NAME.pem and NAME-key.pem")
	fs.StringSliceVar(&f.hosts, "hosts", nil, "`HOST`s (IP addresses, DNS names) the certificate is valid for (required)")
	fs.IntVar(&f.days, "days", 365, "how many days the certificate is valid (never beyond its CA)")
	fs.IntVar(&f.caDays, "ca-days", 3650, "how many days a new CA is valid")
	return cmd
}

// renewBefore: a certificate that expires sooner is not kept.
const renewBefore = 30 * 24 * time.Hour

func (f *tlsCertFlags) run(out io.Writer) error {
	switch {
	case f.dir == "":
		return errors.New("--dir is required")
	case len(f.hosts) == 0:
		return errors.New("--hosts is required: the addresses and names clients and peers reach the node at")
	case f.name == "" || f.name == "ca" || strings.ContainsAny(f.name, `/\`):
		return fmt.Errorf("--name %q: a file name without slashes, not %q", f.name, "ca")
	case f.days < 1 || f.caDays < 1:
		return errors.New("--days and --ca-days must be at least 1")
	}
	for i, h := range f.hosts {
		f.hosts[i] = strings.TrimSpace(h)
		if f.hosts[i] == "" {
			return errors.New("--hosts: an empty host")
		}
	}
	ca, err := f.loadOrMakeCA(out)
	if err != nil {
		return err
	}
	certFile, keyFile := filepath.Join(f.dir, f.name+".pem"), filepath.Join(f.dir, f.name+"-key.pem")
	if _, err := os.Stat(certFile); err == nil {
		if err := f.keep(ca, certFile, keyFile); err != nil {
			return fmt.Errorf("%s exists and %w; remove %s and %s to make a new one", certFile, err, certFile, keyFile)
		}
		fmt.Fprintf(out, "kept %s: signed by %s for %s, valid until %s\n", certFile, filepath.Join(f.dir, tlsgen.CAFile), strings.Join(f.hosts, ", "), f.notAfter(certFile))
	} else {
		certPEM, keyPEM, err := ca.Issue(f.name, f.hosts, time.Duration(f.days)*24*time.Hour)
		if err != nil {
			return err
		}
		if err := tlsgen.WriteNew(f.dir, map[string][]byte{f.name + ".pem": certPEM, f.name + "-key.pem": keyPEM}); err != nil {
			return err
		}
		fmt.Fprintf(out, "made %s and %s: valid for %s until %s\n", certFile, keyFile, strings.Join(f.hosts, ", "), f.notAfter(certFile))
	}
	caFile := filepath.Join(f.dir, tlsgen.CAFile)
	fmt.Fprintf(out, `
A node with it (docs/operations.md):
  cairn node --client-tls-cert %[1]s --client-tls-key %[2]s --client-tls-ca %[3]s \
             --peer-tls-cert %[1]s --peer-tls-key %[2]s --peer-tls-ca %[3]s ...
Clients: cairn kv ... --tls-ca %[3]s    nats --tlsca %[3]s ...    nats.RootCAs(%[3]q)
`, certFile, keyFile, caFile)
	return nil
}

// loadOrMakeCA reads the CA in f.dir, or makes one when there is none.
func (f *tlsCertFlags) loadOrMakeCA(out io.Writer) (*tlsgen.CA, error) {
	caFile, caKey := filepath.Join(f.dir, tlsgen.CAFile), filepath.Join(f.dir, tlsgen.CAKeyFile)
	_, errCert := os.Stat(caFile)
	_, errKey := os.Stat(caKey)
	switch {
	case errCert == nil && errKey == nil:
		return tlsgen.LoadCA(f.dir)
	case errCert == nil || errKey == nil:
		return nil, fmt.Errorf("%s has only one of %s and %s: restore the other, or remove both to make a new CA (every certificate it signed would have to be made again)", f.dir, tlsgen.CAFile, tlsgen.CAKeyFile)
	}
	ca, err := tlsgen.NewCA("cairn CA", time.Duration(f.caDays)*24*time.Hour)
	if err != nil {
		return nil, err
	}
	if err := ca.Save(f.dir); err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "made a CA: %s (give it to every node and client) and %s (it signs certificates: keep it secret)\n", caFile, caKey)
	return ca, nil
}

// keep reports why an existing certificate will not do, nil when it will.
func (f *tlsCertFlags) keep(ca *tlsgen.CA, certFile, keyFile string) error {
	if _, err := tls.LoadX509KeyPair(certFile, keyFile); err != nil {
		return fmt.Errorf("cannot be used with its key: %w", err)
	}
	cert, err := readCert(certFile)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	at := time.Now().Add(renewBefore)
	for _, h := range f.hosts {
		if _, err := cert.Verify(x509.VerifyOptions{DNSName: h, Roots: pool, CurrentTime: at}); err != nil {
			return fmt.Errorf("will not do for %s in 30 days: %w", h, err)
		}
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return fmt.Errorf("will not do for client authentication (peers): %w", err)
	}
	return nil
}

func (f *tlsCertFlags) notAfter(certFile string) string {
	cert, err := readCert(certFile)
	if err != nil {
		return "?"
	}
	return cert.NotAfter.UTC().Format(time.DateOnly)
}

func readCert(file string) (*x509.Certificate, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, errors.New("is not a PEM certificate")
	}
	return x509.ParseCertificate(b.Bytes)
}
