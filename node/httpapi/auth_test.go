package httpapi

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cairnkv/cairn/node"
	"github.com/cairnkv/cairn/node/testcert"
	"golang.org/x/crypto/bcrypt"
)

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func TestClientAuth(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("old-pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	type request struct {
		method, path, auth string
		want               int
	}
	tests := []struct {
		name string
		tune func(*node.Config)
		reqs []request
	}{
		{"token", func(c *node.Config) { c.ClientToken = []string{"tok", "old"} }, []request{
			{"GET", "/healthz", "", 200},
			{"GET", "/readyz", "", 200},
			{"GET", "/metrics", "", 200},
			{"GET", "/v1/buckets", "", 401},
			{"GET", "/v1/cluster", "", 401},
			{"PUT", "/v1/kv/b/k", "", 401},
			{"GET", "/no/such/route", "", 401},
			{"GET", "/v1/buckets", "Bearer tok", 200},
			{"GET", "/v1/buckets", "Bearer old", 200},
			{"GET", "/v1/buckets", "Bearer wrong", 401},
			{"GET", "/v1/buckets", basic("anyone", "tok"), 200},
			{"GET", "/v1/buckets", basic("tok", ""), 401},
			{"GET", "/v1/buckets", "Token tok", 401},
			{"PUT", "/v1/buckets/b", "Bearer tok", 200},
			{"PUT", "/v1/kv/b/k", "Bearer tok", 200},
			{"GET", "/no/such/route", "Bearer tok", 404},
		}},
		{"users", func(c *node.Config) { c.ClientUsers = []string{"app:pw", "ops:" + string(hash)} }, []request{
			{"GET", "/healthz", "", 200},
			{"GET", "/v1/buckets", "", 401},
			{"GET", "/v1/buckets", basic("app", "pw"), 200},
			{"GET", "/v1/buckets", basic("ops", "old-pw"), 200},
			{"GET", "/v1/buckets", basic("ops", "old-pw"), 200}, // remembered
			{"GET", "/v1/buckets", basic("ops", "pw"), 401},
			{"GET", "/v1/buckets", basic("app", "old-pw"), 401},
			{"GET", "/v1/buckets", "Bearer pw", 401},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServerWith(t, Options{}, tc.tune)
			for _, rq := range tc.reqs {
				var body any
				if rq.method == "PUT" {
					body = "{}"
				}
				var hdr []string
				if rq.auth != "" {
					hdr = []string{"Authorization", rq.auth}
				}
				r := ts.do(rq.method, rq.path, body, hdr...)
				if r.status != rq.want {
					t.Fatalf("%s %s with %q: %d %s, want %d", rq.method, rq.path, rq.auth, r.status, r.body, rq.want)
				}
				if r.status == http.StatusUnauthorized {
					if r.header.Get("WWW-Authenticate") == "" {
						t.Fatalf("401 without WWW-Authenticate")
					}
					if e := r.apiErr(t); e.Code != 401 {
						t.Fatalf("error body %+v", e)
					}
				}
			}
		})
	}
}

// A request forwarded to the node that holds the bucket carries its
// credentials on, and the cluster's nodes accept them alike.
func TestClientAuthForwarded(t *testing.T) {
	c := startAPICluster(t, func(cfg *node.Config) { cfg.ClientToken = []string{"tok"} })
	auth := []string{"Authorization", "Bearer tok"}
	n1 := c.nodes[0]
	if r := n1.do("PUT", "/v1/buckets/one", `{"replicas":1}`, auth...); r.status != 200 {
		t.Fatalf("creating bucket: %d %s", r.status, r.body)
	}
	for _, ts := range c.nodes {
		if _, local, _ := ts.n.Locate("one"); local {
			continue
		}
		if r := ts.do("PUT", "/v1/kv/one/k", "v", auth...); r.status != 200 || r.header.Get(headerServedBy) == "" {
			t.Fatalf("forwarded put: %d %s %v", r.status, r.body, r.header)
		}
		if r := ts.do("GET", "/v1/kv/one/k", nil, auth...); r.status != 200 || string(r.body) != "v" {
			t.Fatalf("forwarded get: %d %s", r.status, r.body)
		}
		if r := ts.do("GET", "/v1/kv/one/k", nil); r.status != 401 {
			t.Fatalf("get without credentials: %d %s", r.status, r.body)
		}
	}
}

// With TLS the API is HTTPS, and a request forwarded to the node that
// holds the bucket goes over HTTPS too, the other node's certificate
// checked against the CA.
func TestClientTLSForwarded(t *testing.T) {
	for _, verify := range []bool{false, true} {
		t.Run(fmt.Sprintf("verify=%v", verify), func(t *testing.T) { clientTLSForwarded(t, verify) })
	}
}

func clientTLSForwarded(t *testing.T, verify bool) {
	certs := testcert.New(t, "127.0.4.1", "127.0.4.2", "127.0.4.3")
	c := startAPICluster(t, func(cfg *node.Config) {
		cfg.ClientTLSCert, cfg.ClientTLSKey, cfg.ClientTLSCA = certs.CertFile, certs.KeyFile, certs.CAFile
		cfg.ClientTLSVerify = verify
	})
	tc := certs.Client()
	if verify {
		tc.Certificates = certs.Server.Certificates // the node's, which the CA signed for clients too
	}
	trusting := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}
	get := func(client *http.Client, method, url, body string) (int, string, error) {
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, err := http.NewRequestWithContext(testCtx(t), method, url, rd)
		if err != nil {
			return 0, "", err
		}
		res, err := client.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		return res.StatusCode, string(b), err
	}
	n1 := c.nodes[0]
	if !strings.HasPrefix(n1.base, "https://") {
		t.Fatalf("API URL %s", n1.base)
	}
	if code, body, err := get(trusting, "PUT", n1.base+"/v1/buckets/one", `{"replicas":1}`); err != nil || code != 200 {
		t.Fatalf("creating bucket: %d %s %v", code, body, err)
	}
	for _, ts := range c.nodes {
		if _, local, _ := ts.n.Locate("one"); local {
			continue
		}
		if code, body, err := get(trusting, "PUT", ts.base+"/v1/kv/one/k", "v"); err != nil || code != 200 {
			t.Fatalf("forwarded put: %d %s %v", code, body, err)
		}
		if code, body, err := get(trusting, "GET", ts.base+"/v1/kv/one/k", ""); err != nil || code != 200 || body != "v" {
			t.Fatalf("forwarded get: %d %s %v", code, body, err)
		}
		if _, _, err := get(http.DefaultClient, "GET", ts.base+"/healthz", ""); err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("a client that does not trust the CA: %v", err)
		}
		if verify {
			noCert := &http.Client{Transport: &http.Transport{TLSClientConfig: certs.Client()}}
			if code, _, err := get(noCert, "GET", ts.base+"/healthz", ""); err == nil {
				t.Fatalf("a client without a certificate got %d", code)
			}
		}
		if code, _, err := get(http.DefaultClient, "GET", strings.Replace(ts.base, "https://", "http://", 1)+"/healthz", ""); err == nil && code == 200 {
			t.Fatal("plain HTTP served")
		}
	}
}

// A node that takes the forwarding proxy's connection and never answers
// its TLS handshake fails the forwarded request after the dial bound,
// not when the request's own context ends.
func TestPeerTLSDialerBoundsTheHandshake(t *testing.T) {
	certs := testcert.New(t, "127.0.0.1")
	ts := startServerWith(t, Options{}, func(cfg *node.Config) {
		cfg.ClientTLSCert, cfg.ClientTLSKey, cfg.ClientTLSCA = certs.CertFile, certs.KeyFile, certs.CAFile
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() }) // held open, silent
		}
	}()
	dial := peerTLSDialer(proxyTransport, ts.n.ClientTLS())
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if c, err := dial(ctx, "tcp", ln.Addr().String()); err == nil {
		c.Close()
		t.Fatal("a silent peer completed a TLS handshake")
	}
	if d := time.Since(start); d > proxyDialTimeout+2*time.Second {
		t.Fatalf("the handshake waited %v", d)
	}
}
