package main

import (
	"errors"
	"strings"
	"testing"
)

// A verb's credentials: its flags, else the CAIRN_TOKEN... variables,
// else, where a node runs (a container's health check), the node's own
// CAIRN_CLIENT_* settings.
func TestCredentialsResolved(t *testing.T) {
	node := map[string]string{
		"CAIRN_CLIENT_TOKEN": "own,other", "CAIRN_CLIENT_TLS_CA": "/tls/ca.pem",
		"CAIRN_CLIENT_TLS_CERT": "/tls/node.pem", "CAIRN_CLIENT_TLS_KEY": "/tls/node-key.pem",
	}
	for _, tc := range []struct {
		name  string
		env   map[string]string
		flags credentials
		want  credentials
	}{
		{"nothing", nil, credentials{}, credentials{}},
		{"the node's", node, credentials{}, credentials{token: "own", tlsCA: "/tls/ca.pem", tlsCert: "/tls/node.pem", tlsKey: "/tls/node-key.pem"}},
		{"flags win", node, credentials{user: "u", password: "p", tlsCA: "ca2", tlsCert: "c2", tlsKey: "k2"},
			credentials{user: "u", password: "p", tlsCA: "ca2", tlsCert: "c2", tlsKey: "k2"}},
		{"the verb's variables win", map[string]string{"CAIRN_TOKEN": "t", "CAIRN_TLS_CA": "ca3", "CAIRN_CLIENT_TOKEN": "own", "CAIRN_CLIENT_TLS_CA": "/tls/ca.pem"},
			credentials{}, credentials{token: "t", tlsCA: "ca3"}},
		{"the node's users", map[string]string{"CAIRN_CLIENT_USERS": "a:b,c:d"}, credentials{}, credentials{user: "a", password: "b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"CAIRN_TOKEN", "CAIRN_USER", "CAIRN_PASSWORD", "CAIRN_TLS_CA", "CAIRN_TLS_CERT", "CAIRN_TLS_KEY",
				"CAIRN_CLIENT_TOKEN", "CAIRN_CLIENT_USERS", "CAIRN_CLIENT_TLS_CA", "CAIRN_CLIENT_TLS_CERT", "CAIRN_CLIENT_TLS_KEY"} {
				t.Setenv(k, tc.env[k])
			}
			if got := tc.flags.resolved(); got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// A refused connection's error says what to give.
func TestCredentialsExplain(t *testing.T) {
	for _, k := range []string{"CAIRN_TOKEN", "CAIRN_USER", "CAIRN_PASSWORD", "CAIRN_TLS_CA", "CAIRN_TLS_CERT", "CAIRN_TLS_KEY",
		"CAIRN_CLIENT_TOKEN", "CAIRN_CLIENT_USERS", "CAIRN_CLIENT_TLS_CA", "CAIRN_CLIENT_TLS_CERT", "CAIRN_CLIENT_TLS_KEY"} {
		t.Setenv(k, "")
	}
	for _, tc := range []struct {
		name  string
		creds credentials
		err   string
		want  string
	}{
		{"no credential", credentials{}, "nats: Authorization Violation", "give --token, or --user and --password"},
		{"a wrong one", credentials{token: "x"}, "nats: Authorization Violation", "refused the credential given"},
		{"an unknown CA", credentials{}, "tls: failed to verify certificate: x509: certificate signed by unknown authority", "give --tls-ca FILE"},
		{"the CA given", credentials{tlsCA: "ca.pem"}, "x509: certificate signed by unknown authority", ""},
		{"no client certificate", credentials{}, "remote error: tls: certificate required", "give --tls-cert FILE --tls-key FILE"},
		{"anything else", credentials{}, "nats: no servers available for connection", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.creds.explain(errors.New(tc.err)).Error()
			if tc.want == "" && got != tc.err || tc.want != "" && !strings.Contains(got, tc.want) {
				t.Fatalf("explain(%q) = %q, want it to add %q", tc.err, got, tc.want)
			}
		})
	}
}
