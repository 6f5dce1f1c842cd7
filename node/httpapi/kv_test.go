package httpapi

import (
	"bytes"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// kvCase is one request of a scenario; cases run in order on one bucket.
type kvCase struct {
	name    string
	method  string
	path    string
	body    any
	headers []string
	status  int
	errCode int    // checked when status >= 400
	desc    string // substring of the error description
	check   func(t *testing.T, r response)
}

func runCases(t *testing.T, ts *testServer, cases []kvCase) {
	t.Helper()
	for _, c := range cases {
		ok := t.Run(c.name, func(t *testing.T) {
			ts := *ts
			ts.t = t
			r := ts.do(c.method, c.path, c.body, c.headers...)
			if r.status != c.status {
				t.Fatalf("%s %s: status %d, want %d; body %s", c.method, c.path, r.status, c.status, r.body)
			}
			if c.status >= 400 {
				e := r.apiErr(t)
				if e.ErrCode != c.errCode {
					t.Errorf("err_code %d, want %d (%s)", e.ErrCode, c.errCode, e.Description)
				}
				if !strings.Contains(e.Description, c.desc) {
					t.Errorf("description %q does not mention %q", e.Description, c.desc)
				}
			}
			if c.check != nil {
				c.check(t, r)
			}
		})
		if !ok {
			t.FailNow() // later cases depend on earlier ones
		}
	}
}

func wantRevision(rev uint64) func(*testing.T, response) {
	return func(t *testing.T, r response) {
		t.Helper()
		var rj revisionJSON
		r.decode(t, &rj)
		if rj.Revision != rev {
			t.Fatalf("revision %d, want %d", rj.Revision, rev)
		}
		if got := r.header.Get(hdrRevision); got != strconv.FormatUint(rev, 10) {
			t.Fatalf("%s: %q, want %d", hdrRevision, got, rev)
		}
	}
}

func wantValue(value string, rev uint64, op string) func(*testing.T, response) {
	return func(t *testing.T, r response) {
		t.Helper()
		if string(r.body) != value {
			t.Fatalf("body %q, want %q", r.body, value)
		}
		wantEntryHeaders(t, r, rev, op)
		if got := r.header.Get("ETag"); got != `"`+strconv.FormatUint(rev, 10)+`"` {
			t.Fatalf("ETag %q, want \"%d\"", got, rev)
		}
	}
}

func wantEntryHeaders(t *testing.T, r response, rev uint64, op string) {
	t.Helper()
	if got := r.header.Get(hdrRevision); got != strconv.FormatUint(rev, 10) {
		t.Fatalf("%s: %q, want %d", hdrRevision, got, rev)
	}
	if got := r.header.Get(hdrOperation); got != op {
		t.Fatalf("%s: %q, want %s", hdrOperation, got, op)
	}
	created, err := time.Parse(time.RFC3339Nano, r.header.Get(hdrCreated))
	if err != nil || time.Since(created) > time.Minute || time.Until(created) > time.Minute {
		t.Fatalf("%s: %q (%v)", hdrCreated, r.header.Get(hdrCreated), err)
	}
}

type histWant struct {
	rev   uint64
	op    string
	value string
}

func wantHistory(key string, ws ...histWant) func(*testing.T, response) {
	return func(t *testing.T, r response) {
		t.Helper()
		var es []entryJSON
		r.decode(t, &es)
		if len(es) != len(ws) {
			t.Fatalf("history has %d entries, want %d: %s", len(es), len(ws), r.body)
		}
		for i, w := range ws {
			e := es[i]
			if e.Key != key || e.Bucket != "kv" || e.Revision != w.rev || e.Operation != w.op || string(e.Value) != w.value || e.Created.IsZero() {
				t.Fatalf("entry %d: %+v, want %+v", i, e, w)
			}
		}
		// Values are base64 in the JSON.
		if ws[0].value != "" && !bytes.Contains(r.body, []byte(base64.StdEncoding.EncodeToString([]byte(ws[0].value)))) {
			t.Fatalf("value not base64 in %s", r.body)
		}
	}
}

func TestKV(t *testing.T) {
	ts := startServer(t, Options{MaxBodyBytes: 1024})
	ts.mustBucket("kv", `{"history":5}`)
	big := strings.Repeat("x", 1024)
	runCases(t, ts, []kvCase{
		{name: "put", method: "PUT", path: "/v1/kv/kv/a.b", body: "v1", status: 200, check: wantRevision(1)},
		{name: "get", method: "GET", path: "/v1/kv/kv/a.b", status: 200, check: wantValue("v1", 1, "PUT")},
		{name: "head", method: "HEAD", path: "/v1/kv/kv/a.b", status: 200, check: func(t *testing.T, r response) {
			wantEntryHeaders(t, r, 1, "PUT")
			if len(r.body) != 0 {
				t.Fatalf("HEAD body %q", r.body)
			}
		}},
		{name: "get if-none-match current", method: "GET", path: "/v1/kv/kv/a.b", headers: []string{"If-None-Match", `"1"`}, status: 304},
		{name: "get if-none-match other", method: "GET", path: "/v1/kv/kv/a.b", headers: []string{"If-None-Match", `"7"`}, status: 200, check: wantValue("v1", 1, "PUT")},
		{name: "get missing key", method: "GET", path: "/v1/kv/kv/nope", status: 404, errCode: 10037, desc: "no message found"},
		{name: "get unknown bucket", method: "GET", path: "/v1/kv/nobucket/a", status: 404, errCode: 10059, desc: "stream not found"},
		{name: "put unknown bucket", method: "PUT", path: "/v1/kv/nobucket/a", body: "x", status: 404, errCode: 10059},
		{name: "delete unknown bucket", method: "DELETE", path: "/v1/kv/nobucket/a", status: 404, errCode: 10059},
		{name: "get invalid key", method: "GET", path: "/v1/kv/kv/a..b", status: 400, errCode: 10052, desc: "empty token"},
		{name: "put reserved key", method: "PUT", path: "/v1/kv/kv/_kv.x", body: "x", status: 400, errCode: 10052, desc: "reserved"},
		{name: "put key with bad char", method: "PUT", path: "/v1/kv/kv/a%20b", body: "x", status: 400, errCode: 10052, desc: "only letters"},
		{name: "empty key", method: "GET", path: "/v1/kv/kv/", status: 400, errCode: 10052, desc: "must not be empty"},
		{name: "invalid bucket name", method: "GET", path: "/v1/kv/bad.bucket/a", status: 400, errCode: 10052, desc: "invalid bucket name"},

		{name: "update", method: "PUT", path: "/v1/kv/kv/a.b", body: "v2", headers: []string{"If-Match", `"1"`}, status: 200, check: wantRevision(2)},
		{name: "update wrong revision", method: "PUT", path: "/v1/kv/kv/a.b", body: "v3", headers: []string{"If-Match", `"1"`},
			status: 412, errCode: 10071, desc: "wrong last sequence: 2"},
		{name: "update bare revision", method: "PUT", path: "/v1/kv/kv/a.b", body: "v3", headers: []string{"If-Match", "2"}, status: 200, check: wantRevision(3)},
		{name: "update weak etag", method: "PUT", path: "/v1/kv/kv/a.b", body: "v", headers: []string{"If-Match", `W/"3"`}, status: 400, errCode: 10003, desc: "weak"},
		{name: "update bad etag", method: "PUT", path: "/v1/kv/kv/a.b", body: "v", headers: []string{"If-Match", `"x"`}, status: 400, errCode: 10003, desc: "not a revision"},
		{name: "update two etags", method: "PUT", path: "/v1/kv/kv/a.b", body: "v", headers: []string{"If-Match", `"3", "4"`}, status: 400, errCode: 10003, desc: "only one"},
		{name: "if-match with if-none-match", method: "PUT", path: "/v1/kv/kv/a.b", body: "v", headers: []string{"If-Match", `"3"`, "If-None-Match", "*"}, status: 400, errCode: 10003},
		{name: "create existing", method: "PUT", path: "/v1/kv/kv/a.b", body: "v", headers: []string{"If-None-Match", "*"},
			status: 409, errCode: 10071, desc: "wrong last sequence: 3"},
		{name: "if-none-match etag on put", method: "PUT", path: "/v1/kv/kv/a.b", body: "v", headers: []string{"If-None-Match", `"3"`}, status: 400, errCode: 10003},
		{name: "create", method: "PUT", path: "/v1/kv/kv/c.d", body: "c", headers: []string{"If-None-Match", "*"}, status: 200, check: wantRevision(4)},
		{name: "if-match any existing", method: "PUT", path: "/v1/kv/kv/a.b", body: "v5", headers: []string{"If-Match", "*"}, status: 200, check: wantRevision(5)},
		{name: "if-match any missing", method: "PUT", path: "/v1/kv/kv/nope", body: "x", headers: []string{"If-Match", "*"}, status: 412, errCode: 10071, desc: "no value"},
		{name: "oversized body", method: "PUT", path: "/v1/kv/kv/big", body: big + "y", status: 413, errCode: 10054, desc: "1024 bytes"},
		{name: "oversized chunked body", method: "PUT", path: "/v1/kv/kv/big", body: io.MultiReader(strings.NewReader(big), strings.NewReader("yy")), status: 413, errCode: 10054},
		{name: "largest body", method: "PUT", path: "/v1/kv/kv/big", body: big, status: 200, check: wantRevision(6)},
		{name: "get largest", method: "GET", path: "/v1/kv/kv/big", status: 200, check: wantValue(big, 6, "PUT")},
		{name: "empty value", method: "PUT", path: "/v1/kv/kv/empty", body: "", status: 200, check: wantRevision(7)},
		{name: "get empty value", method: "GET", path: "/v1/kv/kv/empty", status: 200, check: wantValue("", 7, "PUT")},

		{name: "get revision", method: "GET", path: "/v1/kv/kv/a.b?revision=1", status: 200, check: wantValue("v1", 1, "PUT")},
		{name: "get revision of another key", method: "GET", path: "/v1/kv/kv/a.b?revision=4", status: 404, errCode: 10037},
		{name: "get revision beyond last", method: "GET", path: "/v1/kv/kv/a.b?revision=999", status: 404, errCode: 10037},
		{name: "get revision zero", method: "GET", path: "/v1/kv/kv/a.b?revision=0", status: 400, errCode: 10003, desc: "revision"},
		{name: "get revision not a number", method: "GET", path: "/v1/kv/kv/a.b?revision=x", status: 400, errCode: 10003},
		{name: "stale get", method: "GET", path: "/v1/kv/kv/a.b?stale=true", status: 200, check: wantValue("v5", 5, "PUT")},
		{name: "stale flag", method: "GET", path: "/v1/kv/kv/a.b?stale", status: 200, check: wantValue("v5", 5, "PUT")},
		{name: "stale not a boolean", method: "GET", path: "/v1/kv/kv/a.b?stale=maybe", status: 400, errCode: 10003, desc: "stale"},
		{name: "history", method: "GET", path: "/v1/kv/kv/a.b?history", status: 200,
			check: wantHistory("a.b", histWant{1, "PUT", "v1"}, histWant{2, "PUT", "v2"}, histWant{3, "PUT", "v3"}, histWant{5, "PUT", "v5"})},
		{name: "history of missing key", method: "GET", path: "/v1/kv/kv/nope?history", status: 404, errCode: 10037},

		{name: "delete wrong revision", method: "DELETE", path: "/v1/kv/kv/a.b", headers: []string{"If-Match", `"1"`}, status: 412, errCode: 10071, desc: "wrong last sequence: 5"},
		{name: "delete revision zero", method: "DELETE", path: "/v1/kv/kv/a.b", headers: []string{"If-Match", "0"}, status: 400, errCode: 10003},
		{name: "delete", method: "DELETE", path: "/v1/kv/kv/a.b", headers: []string{"If-Match", `"5"`}, status: 200, check: wantRevision(8)},
		{name: "get deleted", method: "GET", path: "/v1/kv/kv/a.b", status: 404, errCode: 10037, desc: "deleted", check: func(t *testing.T, r response) {
			wantEntryHeaders(t, r, 8, "DEL")
		}},
		{name: "history after delete", method: "GET", path: "/v1/kv/kv/a.b?history=true", status: 200,
			check: wantHistory("a.b", histWant{1, "PUT", "v1"}, histWant{2, "PUT", "v2"}, histWant{3, "PUT", "v3"}, histWant{5, "PUT", "v5"}, histWant{8, "DEL", ""})},
		{name: "create after delete", method: "PUT", path: "/v1/kv/kv/a.b", body: "again", headers: []string{"If-None-Match", "*"}, status: 200, check: wantRevision(9)},
		{name: "purge not a boolean", method: "DELETE", path: "/v1/kv/kv/a.b?purge=maybe", status: 400, errCode: 10003},
		{name: "ttl without purge", method: "DELETE", path: "/v1/kv/kv/a.b?ttl=1h", status: 400, errCode: 10003, desc: "purge"},
		{name: "ttl on plain put", method: "PUT", path: "/v1/kv/kv/a.b?ttl=1h", body: "x", status: 400, errCode: 10003, desc: "If-None-Match"},
		{name: "bad ttl", method: "PUT", path: "/v1/kv/kv/t?ttl=soon", body: "x", headers: []string{"If-None-Match", "*"}, status: 400, errCode: 10003, desc: "ttl"},
		{name: "ttl without marker ttl on bucket", method: "PUT", path: "/v1/kv/kv/t?ttl=5s", body: "x", headers: []string{"If-None-Match", "*"}, status: 400, errCode: 10166},
		{name: "purge", method: "DELETE", path: "/v1/kv/kv/a.b?purge=true", headers: []string{"If-Match", `"9"`}, status: 200, check: wantRevision(10)},
		{name: "history after purge", method: "GET", path: "/v1/kv/kv/a.b?history", status: 200, check: wantHistory("a.b", histWant{10, "PURGE", ""})},
		{name: "get purged", method: "GET", path: "/v1/kv/kv/a.b", status: 404, errCode: 10037, check: func(t *testing.T, r response) {
			wantEntryHeaders(t, r, 10, "PURGE")
		}},
		{name: "get old revision after purge", method: "GET", path: "/v1/kv/kv/a.b?revision=1", status: 404, errCode: 10037},
		{name: "delete missing key leaves a marker", method: "DELETE", path: "/v1/kv/kv/never", status: 200, check: wantRevision(11)},
	})
}

func TestKeys(t *testing.T) {
	ts := startServer(t, Options{})
	ts.mustBucket("k", "")
	ts.mustBucket("empty", "")
	for _, k := range []string{"orders.eu.1", "orders.eu.2", "orders.us.1", "users.1", "users.2"} {
		ts.mustPut("k", k, "v")
	}
	if r := ts.do("DELETE", "/v1/kv/k/users.2", nil); r.status != 200 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	keys := func(want ...string) func(*testing.T, response) {
		return func(t *testing.T, r response) {
			t.Helper()
			var out struct {
				Keys []string `json:"keys"`
			}
			r.decode(t, &out)
			if out.Keys == nil {
				t.Fatalf("keys is null, want a list: %s", r.body)
			}
			if !slices.Equal(out.Keys, want) {
				t.Fatalf("keys %q, want %q", out.Keys, want)
			}
		}
	}
	all := []string{"orders.eu.1", "orders.eu.2", "orders.us.1", "users.1"}
	runCases(t, ts, []kvCase{
		{name: "all", method: "GET", path: "/v1/kv/k?keys", status: 200, check: keys(all...)},
		{name: "all without keys flag", method: "GET", path: "/v1/kv/k", status: 200, check: keys(all...)},
		{name: "stale", method: "GET", path: "/v1/kv/k?keys&stale=true", status: 200, check: keys(all...)},
		{name: "one token wildcard", method: "GET", path: "/v1/kv/k?keys&filter=orders.eu.*", status: 200, check: keys("orders.eu.1", "orders.eu.2")},
		{name: "tail wildcard", method: "GET", path: "/v1/kv/k?keys&filter=orders.%3E", status: 200, check: keys("orders.eu.1", "orders.eu.2", "orders.us.1")},
		{name: "several filters", method: "GET", path: "/v1/kv/k?keys&filter=orders.*.1&filter=users.*", status: 200, check: keys("orders.eu.1", "orders.us.1", "users.1")},
		{name: "overlapping filters", method: "GET", path: "/v1/kv/k?keys&filter=orders.eu.*&filter=orders.%3E", status: 200, check: keys("orders.eu.1", "orders.eu.2", "orders.us.1")},
		{name: "deleted key not listed", method: "GET", path: "/v1/kv/k?keys&filter=users.2", status: 200, check: keys()},
		{name: "no match", method: "GET", path: "/v1/kv/k?keys&filter=nothing.*", status: 200, check: keys()},
		{name: "key path as filter", method: "GET", path: "/v1/kv/k/orders.*.1?keys", status: 200, check: keys("orders.eu.1", "orders.us.1")},
		{name: "empty bucket", method: "GET", path: "/v1/kv/empty?keys", status: 200, check: keys()},
		{name: "invalid filter", method: "GET", path: "/v1/kv/k?keys&filter=a..b", status: 400, errCode: 10052, desc: "empty token"},
		{name: "unknown bucket", method: "GET", path: "/v1/kv/nope?keys", status: 404, errCode: 10059},
		{name: "invalid bucket", method: "GET", path: "/v1/kv/a.b?keys", status: 400, errCode: 10052},
	})
}

// Keys may contain '/', including where a path would be cleaned ("//",
// "/./", a leading '/'): the key is taken exactly, never redirected.
func TestKeysWithSlashes(t *testing.T) {
	ts := startServer(t, Options{})
	ts.mustBucket("kv", "")
	for _, c := range []struct{ path, key string }{
		{"dir/sub/file", "dir/sub/file"},
		{"/lead", "/lead"},
		{"a//b", "a//b"},
		{"a/./b", "a/./b"},
		{"trail/", "trail/"},
		{"%2Fescaped%2Fslash", "/escaped/slash"},
		{"x=1/y", "x=1/y"},
	} {
		t.Run(c.key, func(t *testing.T) {
			ts := *ts
			ts.t = t
			r := ts.do("PUT", "/v1/kv/kv/"+c.path, "v:"+c.key)
			if r.status != 200 {
				t.Fatalf("PUT %s: %d %s", c.path, r.status, r.body)
			}
			r = ts.do("GET", "/v1/kv/kv/"+c.path, nil)
			if r.status != 200 || string(r.body) != "v:"+c.key {
				t.Fatalf("GET %s: %d %q", c.path, r.status, r.body)
			}
			// The same key with every '/' escaped.
			r = ts.do("GET", "/v1/kv/kv/"+strings.ReplaceAll(c.key, "/", "%2F"), nil)
			if r.status != 200 || string(r.body) != "v:"+c.key {
				t.Fatalf("GET escaped %s: %d %q", c.key, r.status, r.body)
			}
			r = ts.do("GET", "/v1/kv/kv?keys", nil)
			var out struct{ Keys []string }
			r.decode(t, &out)
			if !slices.Contains(out.Keys, c.key) {
				t.Fatalf("keys %q lack %q", out.Keys, c.key)
			}
		})
	}
	// ".." is an empty token: invalid, not a path traversal.
	r := ts.do("PUT", "/v1/kv/kv/a/../b", "x")
	if r.status != 400 || r.apiErr(t).ErrCode != 10052 {
		t.Fatalf("PUT a/../b: %d %s", r.status, r.body)
	}
}

func TestRoutingErrors(t *testing.T) {
	ts := startServer(t, Options{})
	ts.mustBucket("kv", "")
	allow := func(want string) func(*testing.T, response) {
		return func(t *testing.T, r response) {
			if got := r.header.Get("Allow"); got != want {
				t.Fatalf("Allow %q, want %q", got, want)
			}
		}
	}
	runCases(t, ts, []kvCase{
		{name: "unknown route", method: "GET", path: "/nope", status: 404, desc: "no route for GET /nope"},
		{name: "unknown v1 route", method: "GET", path: "/v1/nope/x", status: 404},
		{name: "post on a key", method: "POST", path: "/v1/kv/kv/a", body: "x", status: 405, desc: "POST", check: allow("DELETE, GET, HEAD, PUT")},
		{name: "delete on keys", method: "DELETE", path: "/v1/kv/kv", status: 405, check: allow("GET, HEAD")},
		{name: "patch on buckets", method: "PATCH", path: "/v1/buckets", status: 405, check: allow("GET, HEAD")},
		{name: "put on watch", method: "PUT", path: "/v1/watch/kv", status: 405, check: allow("GET, HEAD")},
		{name: "post on healthz", method: "POST", path: "/healthz", status: 405, check: allow("GET, HEAD")},
	})
}

// readBody never reads more than MaxBodyBytes+1 bytes, whatever the
// client sends.
func TestReadBodyBound(t *testing.T) {
	ts := startServer(t, Options{MaxBodyBytes: 100})
	for _, c := range []struct {
		name    string
		size    int
		length  int64 // Content-Length; -1 unknown
		wantErr bool
	}{
		{"within, unknown length", 100, -1, false},
		{"over, unknown length", 10 << 20, -1, true},
		{"over, declared", 10 << 20, 10 << 20, true},
		{"within, declared", 50, 50, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			cr := &countingReader{r: bytes.NewReader(make([]byte, c.size))}
			req := httptest.NewRequest("PUT", "/v1/kv/kv/a", cr)
			req.ContentLength = c.length
			rec := httptest.NewRecorder()
			body, err := ts.s.readBody(rec, req)
			if (err != nil) != c.wantErr {
				t.Fatalf("err %v, want error %v", err, c.wantErr)
			}
			if err != nil && toAPIError(err).Code != http.StatusRequestEntityTooLarge {
				t.Fatalf("error %v, want 413", err)
			}
			if err == nil && len(body) != c.size {
				t.Fatalf("read %d bytes, want %d", len(body), c.size)
			}
			if cr.n > 101 {
				t.Fatalf("read %d bytes of the body, more than max+1", cr.n)
			}
		})
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}
