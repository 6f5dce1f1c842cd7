package httpapi

import (
	"bytes"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func scrape(t *testing.T, ts *testServer) map[string]*dto.MetricFamily {
	t.Helper()
	r := ts.do("GET", "/metrics", nil)
	if r.status != 200 {
		t.Fatalf("/metrics: %d %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("/metrics Content-Type %q", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(r.body))
	if err != nil {
		t.Fatalf("parsing /metrics: %v\n%s", err, r.body)
	}
	return mfs
}

// sample returns the value of the sample of family name whose labels
// include the given name, value pairs (ok false if there is none).
func sample(mfs map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	mf := mfs[name]
	if mf == nil {
		return 0, false
	}
next:
	for _, m := range mf.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if have[labels[i]] != labels[i+1] {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		case m.Untyped != nil:
			return m.GetUntyped().GetValue(), true
		}
	}
	return 0, false
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	external := prometheus.NewCounter(prometheus.CounterOpts{Name: "cairn_test_external_total", Help: "Registered by another package."})
	reg.MustRegister(external)
	external.Add(3)
	ts := startServer(t, Options{Registry: reg})
	if ts.s.Registry() != reg {
		t.Fatal("Registry() is not the registry given")
	}
	ts.mustBucket("m", `{"max_bytes":1000000}`)
	ts.mustPut("m", "a", "1")
	ts.mustPut("m", "b", "2")
	ts.do("GET", "/v1/kv/m/a", nil)
	ts.do("GET", "/v1/kv/m/nope", nil)
	ts.do("GET", "/no/such/route", nil)
	st := ts.openWatch("/v1/watch/m")
	st.expect(ew{"a", 1, "PUT", "1"}, ew{"b", 2, "PUT", "2"}, initialized)

	mfs := scrape(t, ts)
	self := nodeID(ts.n.NodeID())
	for _, c := range []struct {
		name   string
		labels []string
		want   float64 // -1: present, any value
	}{
		{"cairn_node_info", []string{"node_id", self, "name", "httpapi-test"}, 1},
		{"cairn_buckets", nil, 1},
		{"cairn_bucket_info", []string{"bucket", "m", "storage", "file", "replicas", "1", "history", "1"}, 1},
		{"cairn_bucket_messages", []string{"bucket", "m"}, 2},
		{"cairn_bucket_keys", []string{"bucket", "m"}, 2},
		{"cairn_bucket_bytes", []string{"bucket", "m"}, -1},
		{"cairn_bucket_last_revision", []string{"bucket", "m"}, 2},
		{"cairn_bucket_leader_known", []string{"bucket", "m"}, 1},
		{"cairn_bucket_is_leader", []string{"bucket", "m"}, 1},
		{"cairn_bucket_max_bytes", []string{"bucket", "m"}, 1000000},
		{"cairn_http_requests_total", []string{"method", "PUT", "route", "/v1/kv/{bucket}/{key...}", "code", "200"}, 2},
		{"cairn_http_requests_total", []string{"method", "GET", "route", "/v1/kv/{bucket}/{key...}", "code", "404"}, 1},
		{"cairn_http_requests_total", []string{"method", "GET", "route", "unmatched", "code", "404"}, 1},
		{"cairn_http_requests_total", []string{"method", "PUT", "route", "/v1/buckets/{name}", "code", "200"}, 1},
		{"cairn_http_request_duration_seconds", []string{"method", "PUT", "route", "/v1/kv/{bucket}/{key...}"}, 2},
		{"cairn_http_requests_in_flight", nil, 2}, // the watch and this scrape
		{"cairn_http_watchers", nil, 1},
		{"cairn_http_watch_entries_total", nil, 2},
		{"cairn_test_external_total", nil, 3},
		{"cairn_bucket_series_omitted", nil, 0},
		// The node's own collectors.
		{"cairn_raft_proposals_total", nil, -1},
		{"cairn_raft_groups", nil, 2}, // meta and m
		{"cairn_storage_bytes", []string{"db", "disk"}, -1},
		{"cairn_watches", nil, 1},
		{"go_goroutines", nil, -1},
		{"process_cpu_seconds_total", nil, -1},
	} {
		v, ok := sample(mfs, c.name, c.labels...)
		if !ok {
			t.Errorf("no %s%v", c.name, c.labels)
			continue
		}
		if c.want >= 0 && v != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, v, c.want)
		}
	}
	if mf := mfs["cairn_http_request_duration_seconds"]; mf.GetType() != dto.MetricType_HISTOGRAM {
		t.Errorf("cairn_http_request_duration_seconds is a %v", mf.GetType())
	}
	for name, mf := range mfs {
		if strings.HasPrefix(name, "cairn_") && mf.GetHelp() == "" {
			t.Errorf("%s has no help text", name)
		}
	}

	// The watcher is gone once the client is.
	st.close()
	waitFor(t, "the watcher to stop", func() bool { return ts.s.watchers.Load() == 0 })
	if v, _ := sample(scrape(t, ts), "cairn_http_watchers"); v != 0 {
		t.Errorf("cairn_http_watchers = %v after the client left", v)
	}
}

// Servers sharing a registry (or a registry that already has the Go and
// process collectors) do not panic and keep counting.
func TestMetricsSharedRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	a := startServer(t, Options{Registry: reg})
	b := startServer(t, Options{Registry: reg})
	a.do("GET", "/healthz", nil)
	b.do("GET", "/healthz", nil)
	if v, ok := sample(scrape(t, a), "cairn_http_requests_total", "route", "/healthz"); !ok || v != 2 {
		t.Fatalf("shared healthz count %v %v", v, ok)
	}
}

// Past BucketSeriesLimit buckets, only totals are exported.
func TestMetricsBucketSeriesLimit(t *testing.T) {
	ts := startServer(t, Options{BucketSeriesLimit: 1})
	ts.mustBucket("a", "")
	mfs := scrape(t, ts)
	if _, ok := sample(mfs, "cairn_bucket_messages", "bucket", "a"); !ok {
		t.Fatal("no per-bucket series within the limit")
	}
	ts.mustBucket("b", "")
	mfs = scrape(t, ts)
	if _, ok := sample(mfs, "cairn_bucket_messages"); ok {
		t.Fatal("per-bucket series past the limit")
	}
	if v, _ := sample(mfs, "cairn_buckets"); v != 2 {
		t.Fatalf("cairn_buckets = %v", v)
	}
	if v, _ := sample(mfs, "cairn_bucket_series_omitted"); v != 1 {
		t.Fatalf("cairn_bucket_series_omitted = %v", v)
	}
}
