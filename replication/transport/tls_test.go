package transport

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cairnkv/cairn/storage"
	"go.etcd.io/raft/v3/raftpb"
)

// A TLS configuration needs both sides and no version below 1.2.
func TestTLSCheck(t *testing.T) {
	cfg := &tls.Config{}
	client := func(string) *tls.Config { return cfg }
	for _, tc := range []struct {
		name string
		tls  *TLS
		want string
	}{
		{"none", nil, ""},
		{"both sides", &TLS{Server: cfg, Client: client}, ""},
		{"no client side", &TLS{Server: cfg}, "both"},
		{"no server side", &TLS{Client: client}, "both"},
		{"TLS 1.0", &TLS{Server: &tls.Config{MinVersion: tls.VersionTLS10}, Client: client}, "below 1.2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.tls.check()
			if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("check: %v, want %q", err, tc.want)
			}
		})
	}
}

// A node told the other end speaks the other language says so: the
// plaintext hello where a ClientHello belongs, and the reverse.
func TestTLSMismatchHints(t *testing.T) {
	hello := hello{version: protocolVersion, kind: kindStream, from: 1, to: 2}.encode()
	var rh tls.RecordHeaderError
	copy(rh.RecordHeader[:], hello)
	for _, tc := range []struct {
		name string
		got  string
		want string
	}{
		{"plaintext hello at a TLS acceptor", plaintextHint(rh), "speaks plaintext"},
		{"wrapped", plaintextHint(errors.Join(errors.New("x"), rh)), "speaks plaintext"},
		{"another record header", plaintextHint(tls.RecordHeaderError{RecordHeader: [5]byte{'G', 'E', 'T', ' ', '/'}}), ""},
		{"not a record header error", plaintextHint(errors.New("bad certificate")), ""},
		{"ClientHello at a plaintext acceptor", tlsHelloHint([]byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01}), "TLS handshake"},
		{"garbage at a plaintext acceptor", tlsHelloHint([]byte("GET / HTTP/1.1")), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if (tc.want == "") != (tc.got == "") || !strings.Contains(tc.got, tc.want) {
				t.Fatalf("hint %q, want one containing %q", tc.got, tc.want)
			}
		})
	}
}

// localTLS is a transport TLS configuration from the standard library's
// test certificate (httptest's, valid for 127.0.0.1): both ends present
// it and trust it. The node's policy (which CA, client certificates
// required) is the node's; here only the carrying is tested.
func localTLS(t *testing.T) *TLS {
	t.Helper()
	s := httptest.NewUnstartedServer(nil)
	s.StartTLS()
	cert, leaf := s.TLS.Certificates[0], s.Certificate()
	s.Close()
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return &TLS{
		Server: &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAnyClientCert},
		Client: func(host string) *tls.Config {
			return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, ServerName: host}
		},
	}
}

// Raft messages, calls and snapshot streams all pass between two TLS
// transports.
func TestTLSCarriesEverything(t *testing.T) {
	lt := localTLS(t)
	state := randomState(3 << 20)
	s, rs, r, rr := snapPair(t, state, func(sender, receiver *Config) { sender.TLS, receiver.TLS = lt, lt })
	r.HandleCall("echo", func(_ context.Context, _ uint64, p []byte) ([]byte, error) { return p, nil })

	s.Send(storage.GroupID(1), []raftpb.Message{app(1, 2, 0)})
	waitFor(t, "the raft message", func() bool { return rr.count(1) == 1 })
	got, err := s.Call(ctxTimeout(t, 10*time.Second), 2, "echo", []byte("over TLS"))
	if err != nil || string(got) != "over TLS" {
		t.Fatalf("call: %q %v", got, err)
	}
	s.Send(storage.GroupID(9), []raftpb.Message{msgSnap(1, 2, 100)})
	waitFor(t, "the snapshot report", func() bool { return len(rs.reports()) == 1 })
	if data, ok := rr.snapshotData(9); !ok || !bytes.Equal(data, state) || rs.reports()[0].failed {
		t.Fatalf("snapshot: %d bytes, report %+v", len(data), rs.reports()[0])
	}
	if st := r.Stats(); st.TLSFailures != 0 || st.ConnsAccepted < 2 {
		t.Fatalf("receiver stats %+v", st)
	}
}

// A TLS transport and a plaintext one refuse each other, whichever
// dials; the acceptor counts it (a TLS failure at a TLS acceptor).
func TestTLSAndPlaintextRefuseEachOther(t *testing.T) {
	lt := localTLS(t)
	for _, tc := range []struct {
		name             string
		dialer, acceptor *TLS
	}{
		{"plaintext dialer, TLS acceptor", nil, lt},
		{"TLS dialer, plaintext acceptor", lt, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBook()
			acfg := testConfig(2, b)
			acfg.TLS = tc.acceptor
			rec := newRecorder()
			srv := startNode(t, acfg, rec, b)
			dcfg := testConfig(1, b)
			dcfg.TLS = tc.dialer
			cli := startNode(t, dcfg, newRecorder(), b)
			cli.Send(storage.GroupID(1), []raftpb.Message{app(1, 2, 0)})
			waitFor(t, "the acceptor to refuse the dialer", func() bool { return srv.Stats().ConnsRejected > 0 })
			if n := rec.count(1); n != 0 {
				t.Fatalf("%d messages got through", n)
			}
			if got := srv.Stats().TLSFailures > 0; got != (tc.acceptor != nil) {
				t.Fatalf("TLS failures counted: %v", got)
			}
		})
	}
}
