package frontdoor_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cairnkv/cairn/node"
	"github.com/cairnkv/cairn/node/testcert"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
	"golang.org/x/crypto/bcrypt"
)

// With client credentials set, a client must present them on every node,
// and nodes present theirs to each other: requests for a bucket another
// node holds are forwarded as before.
func TestClusterClientAuth(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("old-pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	nkeyUser, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	nkeyPub, _ := nkeyUser.PublicKey()
	strangerPub, _ := stranger.PublicKey()
	for _, tc := range []struct {
		name     string
		tune     func(*node.Config)
		accepted []nats.Option // each lets a client in
		refused  []nats.Option
	}{
		{"token", func(c *node.Config) { c.ClientToken = []string{"tok-new", "tok-old"} },
			[]nats.Option{nats.Token("tok-new"), nats.Token("tok-old")},
			[]nats.Option{nats.Token("tok"), nats.UserInfo("tok-new", "tok-new")}},
		{"users", func(c *node.Config) { c.ClientUsers = []string{"app:pw", "ops:" + string(hash)} },
			[]nats.Option{nats.UserInfo("app", "pw"), nats.UserInfo("ops", "old-pw")},
			[]nats.Option{nats.UserInfo("ops", "pw"), nats.Token("pw")}},
		{"users and nkeys", func(c *node.Config) {
			c.ClientUsers, c.ClientNKeys = []string{"app:pw"}, []string{nkeyPub}
		},
			[]nats.Option{nats.Nkey(nkeyPub, nkeyUser.Sign), nats.UserInfo("app", "pw")},
			[]nats.Option{nats.Nkey(strangerPub, stranger.Sign), nats.Nkey(nkeyPub, stranger.Sign)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nodes := startCairnCluster(t, 3, tc.tune)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			_, js := connect(t, nodes[0].url, tc.accepted[0])
			if _, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "one"}); err != nil {
				t.Fatal(err)
			}
			for i, cn := range nodes {
				for j, opt := range tc.accepted {
					_, js := connect(t, cn.url, opt)
					kv, err := js.KeyValue(ctx, "one")
					if err != nil {
						t.Fatalf("node %d, credential %d: %v", i+1, j+1, err)
					}
					key := fmt.Sprintf("k%d.%d", i, j)
					rev, err := kv.Put(ctx, key, []byte("v"))
					if err != nil {
						t.Fatalf("node %d, credential %d: put: %v", i+1, j+1, err)
					}
					if e, err := kv.Get(ctx, key); err != nil || e.Revision() != rev {
						t.Fatalf("node %d, credential %d: get: %v %v", i+1, j+1, e, err)
					}
				}
				for j, opt := range append(tc.refused, nil) {
					opts := []nats.Option{nats.Timeout(5 * time.Second), nats.NoReconnect()}
					if opt != nil {
						opts = append(opts, opt)
					}
					nc, err := nats.Connect(cn.url, opts...)
					if err == nil {
						nc.Close()
						t.Fatalf("node %d let refused credential %d in", i+1, j+1)
					}
					if !errors.Is(err, nats.ErrAuthorization) && !strings.Contains(err.Error(), "Authorization Violation") {
						t.Fatalf("node %d, refused credential %d: %v", i+1, j+1, err)
					}
				}
			}
			if h := holders(nodes, "one"); h != 1 {
				t.Fatalf("R1 bucket on %d nodes: the test needs forwarding", h)
			}
		})
	}
}

// With TLS on the client ports, clients that trust the CA get in, and
// nodes forward to each other over TLS, checking each other's
// certificates; with client certificates required (verify), clients
// and nodes present theirs.
func TestClusterClientTLS(t *testing.T) {
	for _, verify := range []bool{false, true} {
		t.Run(fmt.Sprintf("verify=%v", verify), func(t *testing.T) { clusterClientTLS(t, verify) })
	}
}

func clusterClientTLS(t *testing.T, verify bool) {
	certs := testcert.New(t, "127.0.3.1", "127.0.3.2", "127.0.3.3")
	nodes := startCairnCluster(t, 3, func(c *node.Config) {
		c.ClientTLSCert, c.ClientTLSKey, c.ClientTLSCA = certs.CertFile, certs.KeyFile, certs.CAFile
		c.ClientTLSVerify = verify
		c.ClientToken = []string{"tok"}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	secure := []nats.Option{nats.RootCAs(certs.CAFile), nats.Token("tok")}
	if verify {
		secure = append(secure, nats.ClientCert(certs.CertFile, certs.KeyFile))
	}
	_, js := connect(t, nodes[0].url, secure...)
	if _, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "one"}); err != nil {
		t.Fatal(err)
	}
	if h := holders(nodes, "one"); h != 1 {
		t.Fatalf("R1 bucket on %d nodes: the test needs forwarding", h)
	}
	refused := []nats.Option{nats.Token("tok")} // does not trust the CA
	if verify {
		refused = []nats.Option{nats.RootCAs(certs.CAFile), nats.Token("tok")} // has no certificate
	}
	for i, cn := range nodes {
		if !strings.HasPrefix(cn.url, "tls://") {
			t.Fatalf("client URL %s", cn.url)
		}
		_, js := connect(t, cn.url, secure...)
		kv, err := js.KeyValue(ctx, "one")
		if err != nil {
			t.Fatalf("node %d: %v", i+1, err)
		}
		rev, err := kv.Put(ctx, fmt.Sprintf("k%d", i), []byte("v"))
		if err != nil {
			t.Fatalf("node %d: put: %v", i+1, err)
		}
		if e, err := kv.Get(ctx, fmt.Sprintf("k%d", i)); err != nil || e.Revision() != rev {
			t.Fatalf("node %d: get: %v %v", i+1, e, err)
		}
		nc, err := nats.Connect(cn.url, append(refused, nats.Timeout(5*time.Second), nats.NoReconnect())...)
		if err == nil {
			err = nc.Flush() // TLS 1.3 reports a refused certificate at the first read
			nc.Close()
		}
		if err == nil {
			t.Fatalf("node %d: a client without what TLS asks for got in", i+1)
		}
	}
}
