package httpapi

import (
	"encoding/base64"
	"net/http"
	"testing"

	"github.com/cairnkv/cairn/node"
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
