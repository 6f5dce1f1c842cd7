package natsserver

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cairnkv/cairn/node/natsref"
	natsd "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// tokenAuth accepts the token s3cret, as a nats-server with
// authorization { token: s3cret }.
func tokenAuth(_, _, token string) bool { return token == "s3cret" }

// userAuth accepts alice with password pw.
func userAuth(user, pass, _ string) bool { return user == "alice" && pass == "pw" }

// TestDifferentialAuth sends the same raw protocol to an embedded
// nats-server with authorization and to ours with the same, and compares
// what comes back after INFO.
func TestDifferentialAuth(t *testing.T) {
	if testing.Short() {
		t.Skip("starts nats-servers")
	}
	const timeout = 300 * time.Millisecond
	servers := []struct {
		name  string
		ref   natsd.Options
		check func(user, pass, token string) bool
		cases []string
	}{
		{"token", natsd.Options{Authorization: "s3cret", AuthTimeout: timeout.Seconds()}, tokenAuth, []string{
			"PING\r\n",
			"SUB foo 1\r\n",
			"PUB foo 1\r\nx\r\n",
			"CONNECT {}\r\nPING\r\n",
			"CONNECT {\"auth_token\":\"wrong\"}\r\nPING\r\n",
			"CONNECT {\"auth_token\":\"s3cret\"}\r\nPING\r\n",
			"CONNECT {\"auth_token\":\"s3cret\",\"verbose\":true}\r\nSUB foo 1\r\nPUB foo 1\r\nx\r\nPING\r\n",
			"CONNECT {\"user\":\"alice\",\"pass\":\"s3cret\"}\r\nPING\r\n",
			"CONNECT {\"auth_token\":\"s3cret\",\"verbose\":false}\r\nCONNECT {\"auth_token\":\"bad\",\"verbose\":true}\r\nPING\r\n",
			"CONNECT {\"auth_token\":\"s3cret\",\"protocol\":5}\r\n",
			"", // says nothing: Authentication Timeout
		}},
		{"users", natsd.Options{Users: []*natsd.User{{Username: "alice", Password: "pw"}}, AuthTimeout: timeout.Seconds()}, userAuth, []string{
			"PING\r\n",
			"CONNECT {\"user\":\"alice\",\"pass\":\"pw\"}\r\nPING\r\n",
			"CONNECT {\"user\":\"alice\",\"pass\":\"PW\"}\r\nPING\r\n",
			"CONNECT {\"user\":\"bob\",\"pass\":\"pw\"}\r\nPING\r\n",
			"CONNECT {\"auth_token\":\"pw\"}\r\nPING\r\n",
			"",
		}},
	}
	for _, sv := range servers {
		t.Run(sv.name, func(t *testing.T) {
			ref := natsref.Start(t, sv.ref)
			ours := startServer(t, func(c *Config) { c.Authorize, c.AuthTimeout = sv.check, timeout })
			for _, in := range sv.cases {
				want := exchange(t, ref.Addr().String(), in)
				got := exchange(t, ours.Addr().String(), in)
				if got != want {
					t.Errorf("input %q\n  nats-server: %q\n  cairn:       %q", trunc(in), want, got)
				}
			}
			if rc := dialRaw(t, ours); !strings.Contains(rc.info, `"auth_required":true`) {
				t.Errorf("INFO does not say auth_required: %s", rc.info)
			}
		})
	}
}

func TestAuthNotRequired(t *testing.T) {
	s := startServer(t, nil)
	rc := dialRaw(t, s)
	if strings.Contains(rc.info, "auth_required") {
		t.Fatalf("INFO asks for authentication: %s", rc.info)
	}
	// Credentials nobody asked for are ignored, as by nats-server.
	rc.send("CONNECT {\"verbose\":true,\"auth_token\":\"anything\"}\r\nPING\r\n")
	rc.expect("+OK", "PONG")
}

// nats.go sees the same errors from cairn as from nats-server, and gets
// in with the right credentials, given as options or in the URL.
func TestAuthWithClient(t *testing.T) {
	s := startServer(t, func(c *Config) { c.Authorize = tokenAuth })
	url := serverURL(s)
	for _, tc := range []struct {
		name string
		url  string
		opts []nats.Option
		want error
	}{
		{"no token", url, nil, nats.ErrAuthorization},
		{"wrong token", url, []nats.Option{nats.Token("nope")}, nats.ErrAuthorization},
		{"token", url, []nats.Option{nats.Token("s3cret")}, nil},
		{"token in URL", strings.Replace(url, "nats://", "nats://s3cret@", 1), nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nc, err := nats.Connect(tc.url, append(tc.opts, nats.Timeout(testTimeout), nats.NoReconnect())...)
			if tc.want != nil {
				if !errors.Is(err, tc.want) {
					t.Fatalf("connect: got %v, want %v", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			if err := nc.Flush(); err != nil {
				t.Fatal(err)
			}
		})
	}
	waitFor(t, "refused connections counted", func() bool { return s.Stats().AuthFailures == 2 })
}
