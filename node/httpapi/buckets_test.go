package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cairnkv/cairn/node"
)

func wantBucket(check func(t *testing.T, bi bucketInfoJSON)) func(*testing.T, response) {
	return func(t *testing.T, r response) {
		t.Helper()
		var bi bucketInfoJSON
		r.decode(t, &bi)
		check(t, bi)
	}
}

func TestBuckets(t *testing.T) {
	ts := startServer(t, Options{})
	self := nodeID(ts.n.NodeID())
	full := `{"history":3,"ttl":"1h","max_bytes":1048576,"max_value_size":4096,"storage":"memory",
		"replicas":1,"description":"orders","metadata":{"team":"a"},"marker_ttl":"2s","compression":true}`
	runCases(t, ts, []kvCase{
		{name: "create", method: "PUT", path: "/v1/buckets/orders", body: full, status: 200, check: wantBucket(func(t *testing.T, bi bucketInfoJSON) {
			c := bi.Config
			if bi.Name != "orders" || c.History != 3 || time.Duration(c.TTL) != time.Hour || c.MaxBytes != 1<<20 ||
				c.MaxValueSize != 4096 || c.Storage != "memory" || c.Replicas != 1 || c.Description != "orders" ||
				c.Metadata["team"] != "a" || time.Duration(c.MarkerTTL) != 2*time.Second || !c.Compression {
				t.Fatalf("config %+v", c)
			}
			if bi.Group == 0 || bi.Leader != self || bi.Created.IsZero() {
				t.Fatalf("info %+v (self %s)", bi, self)
			}
		})},
		{name: "create again, same config", method: "PUT", path: "/v1/buckets/orders", body: full, status: 200},
		{name: "create again, other config", method: "PUT", path: "/v1/buckets/orders", body: `{"history":4}`, status: 409, errCode: 10058, desc: "different configuration"},
		{name: "create with defaults", method: "PUT", path: "/v1/buckets/plain", status: 200, check: wantBucket(func(t *testing.T, bi bucketInfoJSON) {
			c := bi.Config
			if c.History != 1 || c.TTL != 0 || c.MaxBytes != -1 || c.MaxValueSize != -1 || c.Storage != "file" || c.Replicas != 1 {
				t.Fatalf("defaults %+v", c)
			}
		})},
		{name: "ttl in nanoseconds", method: "PUT", path: "/v1/buckets/ns", body: `{"ttl":90000000000,"name":"ns"}`, status: 200, check: wantBucket(func(t *testing.T, bi bucketInfoJSON) {
			if time.Duration(bi.Config.TTL) != 90*time.Second {
				t.Fatalf("ttl %v", time.Duration(bi.Config.TTL))
			}
		})},
		{name: "invalid JSON", method: "PUT", path: "/v1/buckets/x", body: `{"history":`, status: 400, errCode: 10003, desc: "bucket configuration"},
		{name: "trailing data", method: "PUT", path: "/v1/buckets/x", body: `{} {}`, status: 400, errCode: 10003, desc: "trailing"},
		{name: "unknown field", method: "PUT", path: "/v1/buckets/x", body: `{"histroy":3}`, status: 400, errCode: 10003, desc: "histroy"},
		{name: "wrong type", method: "PUT", path: "/v1/buckets/x", body: `{"history":"3"}`, status: 400, errCode: 10003, desc: "history"},
		{name: "bad ttl", method: "PUT", path: "/v1/buckets/x", body: `{"ttl":"soon"}`, status: 400, errCode: 10003, desc: "not a duration"},
		{name: "history too large", method: "PUT", path: "/v1/buckets/x", body: `{"history":100}`, status: 400, errCode: 10052, desc: "history"},
		{name: "ttl too small", method: "PUT", path: "/v1/buckets/x", body: `{"ttl":"1ms"}`, status: 400, errCode: 10052, desc: "max age"},
		{name: "bad storage", method: "PUT", path: "/v1/buckets/x", body: `{"storage":"tape"}`, status: 400, errCode: 10052, desc: "storage"},
		{name: "replicas without peers", method: "PUT", path: "/v1/buckets/x", body: `{"replicas":3}`, status: 400, errCode: 10074, desc: "replicas"},
		{name: "bad replicas", method: "PUT", path: "/v1/buckets/x", body: `{"replicas":2}`, status: 400, errCode: 10052, desc: "replicas"},
		{name: "invalid name", method: "PUT", path: "/v1/buckets/a.b", status: 400, errCode: 10052, desc: "invalid bucket name"},
		{name: "name differs from path", method: "PUT", path: "/v1/buckets/x", body: `{"name":"y"}`, status: 400, errCode: 10003, desc: "differs"},
		{name: "oversized config", method: "PUT", path: "/v1/buckets/x", body: make([]byte, 2<<20), status: 413, errCode: 10054},

		{name: "list", method: "GET", path: "/v1/buckets", status: 200, check: func(t *testing.T, r response) {
			var out struct{ Buckets []bucketInfoJSON }
			r.decode(t, &out)
			var names []string
			for _, b := range out.Buckets {
				names = append(names, b.Name)
			}
			if !slices.Equal(names, []string{"ns", "orders", "plain"}) {
				t.Fatalf("buckets %q", names)
			}
		}},
		{name: "info", method: "GET", path: "/v1/buckets/orders", status: 200, check: wantBucket(func(t *testing.T, bi bucketInfoJSON) {
			if bi.Name != "orders" || bi.Config.History != 3 || bi.State.LastRevision != 0 {
				t.Fatalf("info %+v", bi)
			}
		})},
		{name: "put a value", method: "PUT", path: "/v1/kv/orders/o.1", body: "hello", status: 200},
		{name: "info has state", method: "GET", path: "/v1/buckets/orders", status: 200, check: wantBucket(func(t *testing.T, bi bucketInfoJSON) {
			s := bi.State
			if s.Messages != 1 || s.Keys != 1 || s.LastRevision != 1 || s.FirstRevision != 1 || s.Bytes == 0 || s.LastTime.IsZero() {
				t.Fatalf("state %+v", s)
			}
		})},
		{name: "info of unknown bucket", method: "GET", path: "/v1/buckets/nope", status: 404, errCode: 10059},
		{name: "info of invalid name", method: "GET", path: "/v1/buckets/a.b", status: 400, errCode: 10052},
		{name: "update", method: "PUT", path: "/v1/buckets/plain?update=true", body: `{"history":5,"description":"more"}`, status: 200, check: wantBucket(func(t *testing.T, bi bucketInfoJSON) {
			if bi.Config.History != 5 || bi.Config.Description != "more" {
				t.Fatalf("updated config %+v", bi.Config)
			}
		})},
		{name: "update storage", method: "PUT", path: "/v1/buckets/plain?update=true", body: `{"storage":"memory"}`, status: 400, errCode: 10052, desc: "storage"},
		{name: "update unknown", method: "PUT", path: "/v1/buckets/nope?update=true", body: `{}`, status: 404, errCode: 10059},
		{name: "delete", method: "DELETE", path: "/v1/buckets/orders", status: 200},
		{name: "deleted bucket's keys", method: "GET", path: "/v1/kv/orders/o.1", status: 404, errCode: 10059},
		{name: "delete again", method: "DELETE", path: "/v1/buckets/orders", status: 404, errCode: 10059},
		{name: "delete invalid name", method: "DELETE", path: "/v1/buckets/a.b", status: 400, errCode: 10052},
		{name: "list after delete", method: "GET", path: "/v1/buckets", status: 200, check: func(t *testing.T, r response) {
			var out struct{ Buckets []bucketInfoJSON }
			r.decode(t, &out)
			if len(out.Buckets) != 2 {
				t.Fatalf("buckets %s", r.body)
			}
		}},
		{name: "recreate", method: "PUT", path: "/v1/buckets/orders", body: `{}`, status: 200, check: wantBucket(func(t *testing.T, bi bucketInfoJSON) {
			if bi.State.Messages != 0 {
				t.Fatalf("recreated bucket has data: %+v", bi.State)
			}
		})},
	})
}

func TestDurationJSON(t *testing.T) {
	for _, c := range []struct {
		in   string
		want time.Duration
		bad  bool
	}{
		{`"1h30m"`, 90 * time.Minute, false},
		{`""`, 0, false},
		{`1000000000`, time.Second, false},
		{`0`, 0, false},
		{`"10"`, 0, true},
		{`1.5`, 0, true},
		{`true`, 0, true},
	} {
		var d duration
		err := json.Unmarshal([]byte(c.in), &d)
		if (err != nil) != c.bad || (!c.bad && time.Duration(d) != c.want) {
			t.Errorf("%s: %v, %v", c.in, time.Duration(d), err)
		}
	}
	out, _ := json.Marshal(duration(90 * time.Second))
	if string(out) != `"1m30s"` {
		t.Errorf("marshal: %s", out)
	}
}

func TestHealthAndReady(t *testing.T) {
	var readyErr error
	var mu = make(chan struct{}, 1)
	mu <- struct{}{}
	ts := startServer(t, Options{ReadyCheck: func() error {
		<-mu
		defer func() { mu <- struct{}{} }()
		return readyErr
	}})
	setReady := func(err error) {
		<-mu
		readyErr = err
		mu <- struct{}{}
	}
	ts.mustBucket("a", "")
	ts.mustBucket("b", `{"storage":"memory"}`)

	r := ts.do("GET", "/healthz", nil)
	if r.status != 200 || string(r.body) != "{\"status\":\"ok\"}\n" {
		t.Fatalf("healthz: %d %q", r.status, r.body)
	}
	var rj readyJSON
	r = ts.do("GET", "/readyz", nil)
	r.decode(t, &rj)
	if r.status != 200 || rj.Status != "ready" || len(rj.Reasons) != 0 {
		t.Fatalf("readyz: %d %s", r.status, r.body)
	}

	setReady(errors.Join(errors.New("not joined"), errors.New("meta leader unknown")))
	r = ts.do("GET", "/readyz", nil)
	rj = readyJSON{}
	r.decode(t, &rj)
	if r.status != http.StatusServiceUnavailable || rj.Status != "not ready" || !slices.Equal(rj.Reasons, []string{"not joined", "meta leader unknown"}) {
		t.Fatalf("readyz with failing hook: %d %s", r.status, r.body)
	}
	// Health is not readiness.
	if r := ts.do("GET", "/healthz", nil); r.status != 200 {
		t.Fatalf("healthz while not ready: %d", r.status)
	}
	setReady(nil)
	if r := ts.do("GET", "/readyz", nil); r.status != 200 {
		t.Fatalf("readyz after hook recovers: %d %s", r.status, r.body)
	}

	// A bucket whose group cannot confirm it is caught up in time is a
	// reason (here: no time at all).
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	reasons := ts.s.notReady(ctx)
	if len(reasons) != 2 || !strings.Contains(reasons[0], "bucket a (group") || !strings.Contains(reasons[0], "not caught up") ||
		!strings.Contains(reasons[1], "bucket b (group") {
		t.Fatalf("reasons with an expired context: %q", reasons)
	}
}

// A server whose node is shutting down answers /readyz 503 "shutting
// down" while it still serves the rest of the API; once closed it is not
// ready either.
func TestReadyWhileClosing(t *testing.T) {
	ts := startServer(t, Options{})
	ts.mustBucket("a", "")
	if r := ts.do("GET", "/readyz", nil); r.status != 200 {
		t.Fatalf("readyz before shutdown: %d %s", r.status, r.body)
	}
	ts.s.ShuttingDown()
	if r := ts.do("GET", "/readyz", nil); r.status != 503 || !strings.Contains(string(r.body), "shutting down") {
		t.Fatalf("readyz while shutting down: %d %s", r.status, r.body)
	}
	ts.mustPut("a", "k", "still served")
	if err := ts.s.Close(); err != nil {
		t.Fatal(err)
	}
	if reasons := ts.s.notReady(t.Context()); !slices.Contains(reasons, "shutting down") {
		t.Fatalf("reasons %q", reasons)
	}
}

// A node whose data disk is below its reserve starts, serves reads, and
// says in /readyz why it is not ready; writes get 503 insufficient
// resources. (A reserve larger than any disk stands in for a full one.)
func TestReadyWhileDiskLow(t *testing.T) {
	ts := startServerWith(t, Options{}, func(c *node.Config) { c.MinFreeDisk = math.MaxInt64 })
	r := ts.do("GET", "/readyz", nil)
	if r.status != 503 || !strings.Contains(string(r.body), "data disk below its free-space reserve") {
		t.Fatalf("readyz on a low disk: %d %s", r.status, r.body)
	}
	r = ts.do("PUT", "/v1/buckets/a", "")
	if r.status != 503 || !strings.Contains(string(r.body), "insufficient resources") {
		t.Fatalf("bucket create on a low disk: %d %s", r.status, r.body)
	}
	if r := ts.do("GET", "/v1/buckets", nil); r.status != 200 {
		t.Fatalf("listing buckets on a low disk: %d %s", r.status, r.body)
	}
}

func TestCluster(t *testing.T) {
	ts := startServer(t, Options{})
	ts.mustBucket("a", "")
	ts.mustPut("a", "k", "v")
	r := ts.do("GET", "/v1/cluster", nil)
	if r.status != 200 {
		t.Fatalf("cluster: %d %s", r.status, r.body)
	}
	var c clusterJSON
	r.decode(t, &c)
	self := nodeID(ts.n.NodeID())
	if c.Node.ID != self || len(self) != 16 || c.Node.Name != "httpapi-test" || !c.Node.Self || c.Node.HTTPAddr != ts.s.Addr().String() {
		t.Fatalf("node %+v", c.Node)
	}
	if len(c.Members) != 1 || c.Members[0].ID != self {
		t.Fatalf("members %+v", c.Members)
	}
	if len(c.Groups) != 1 || c.Groups[0].Bucket != "a" || c.Groups[0].Group == 0 || c.Groups[0].Leader != self ||
		c.Groups[0].LastRev != 1 || !slices.Equal(c.Groups[0].Replicas, []string{self}) {
		t.Fatalf("groups %+v", c.Groups)
	}
	if c.Leaders["a"] != self {
		t.Fatalf("leaders %+v", c.Leaders)
	}

	hooked := startServer(t, Options{ClusterInfo: func() any { return map[string]any{"members": []string{"n1", "n2", "n3"}} }})
	r = hooked.do("GET", "/v1/cluster", nil)
	if r.status != 200 || string(r.body) != `{"members":["n1","n2","n3"]}`+"\n" {
		t.Fatalf("cluster with hook: %d %s", r.status, r.body)
	}
}
