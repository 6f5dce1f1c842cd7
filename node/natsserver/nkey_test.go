package natsserver

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cairnkv/cairn/node/natsref"
	natsd "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// Clients that sign in with an nkey get what they get from a
// nats-server with the same nkey users (and a user with a password beside
// them): nats.go signs the nonce of INFO; the right key gets in, a key
// not on the list, a signature by another key and no credential do not,
// and a user with a password still does.
func TestNKeyAuthLikeNatsServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a nats-server")
	}
	user, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	stranger, _ := nkeys.CreateUser()
	pub, _ := user.PublicKey()
	strangerPub, _ := stranger.PublicKey()

	ref := natsref.Start(t, natsd.Options{
		Nkeys: []*natsd.NkeyUser{{Nkey: pub}},
		Users: []*natsd.User{{Username: "alice", Password: "pw"}},
	})
	ours := startServer(t, func(c *Config) {
		c.Authorize = userAuth
		c.AuthorizeNKey = func(k string) bool { return k == pub }
	})
	if rc := dialRaw(t, ours); !strings.Contains(rc.info, `"nonce":"`) {
		t.Fatalf("INFO carries no nonce: %s", rc.info)
	}
	signer := func(kp nkeys.KeyPair) func([]byte) ([]byte, error) {
		return func(nonce []byte) ([]byte, error) { return kp.Sign(nonce) }
	}
	for _, tc := range []struct {
		name string
		opts []nats.Option
		ok   bool
	}{
		{"the nkey", []nats.Option{nats.Nkey(pub, signer(user))}, true},
		{"an nkey not on the list", []nats.Option{nats.Nkey(strangerPub, signer(stranger))}, false},
		{"the nkey signed by another key", []nats.Option{nats.Nkey(pub, signer(stranger))}, false},
		{"the nkey and a user's password", []nats.Option{nats.Nkey(strangerPub, signer(stranger)), nats.UserInfo("alice", "pw")}, false},
		{"a user", []nats.Option{nats.UserInfo("alice", "pw")}, true},
		{"nothing", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, srv := range []struct {
				name, url string
			}{{"nats-server", ref.ClientURL()}, {"cairn", serverURL(ours)}} {
				nc, err := nats.Connect(srv.url, append(tc.opts, nats.Timeout(testTimeout), nats.NoReconnect())...)
				if err == nil {
					err = nc.Flush()
					nc.Close()
				}
				if got := err == nil; got != tc.ok {
					t.Errorf("%s: connected %v (%v), want %v", srv.name, got, err, tc.ok)
				}
				if !tc.ok && !errors.Is(err, nats.ErrAuthorization) {
					t.Errorf("%s: %v, want %v", srv.name, err, nats.ErrAuthorization)
				}
			}
		})
	}
}

// A CONNECT that replays another connection's signature, or carries a
// malformed one, is refused: the nonce is fresh per connection.
func TestNKeyReplayRefused(t *testing.T) {
	user, _ := nkeys.CreateUser()
	pub, _ := user.PublicKey()
	ours := startServer(t, func(c *Config) { c.AuthorizeNKey = func(k string) bool { return k == pub } })
	first := dialRaw(t, ours)
	nonce := between(first.info, `"nonce":"`, `"`)
	if nonce == "" {
		t.Fatalf("no nonce in %s", first.info)
	}
	sig, err := user.Sign([]byte(nonce))
	if err != nil {
		t.Fatal(err)
	}
	connect := func(sig string) string {
		return fmt.Sprintf("CONNECT {\"nkey\":%q,\"sig\":%q,\"verbose\":true}\r\nPING\r\n", pub, sig)
	}
	enc := base64.RawURLEncoding.EncodeToString(sig)
	first.send(connect(enc))
	first.expect("+OK", "PONG")
	for name, in := range map[string]string{
		"replayed on another connection": connect(enc),
		"not base64":                     connect("!!!"),
		"empty":                          connect(""),
	} {
		rc := dialRaw(t, ours)
		rc.send(in)
		if got := rc.line(); got != "-ERR 'Authorization Violation'" {
			t.Errorf("%s: %q", name, got)
		}
	}
}

func between(s, from, to string) string {
	_, rest, ok := strings.Cut(s, from)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, to)
	return v
}
