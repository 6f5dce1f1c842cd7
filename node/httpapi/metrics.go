package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/cairnkv/cairn/node"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics. Three sources end up in one registry:
//
//   - the node's own collectors (node.Node.Collectors: raft groups,
//     storage, watches), registered here;
//   - bucketCollector: per-bucket state read from the node at scrape time;
//   - httpMetrics: requests, latency and watch streams of this server.
//
// Other packages (membership, the cluster layer) register into the same
// registry: Options.Registry or Server.Registry.
type httpMetrics struct {
	requests     *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	inFlight     prometheus.Gauge
	watchers     prometheus.Gauge
	watchEntries prometheus.Counter
}

func newHTTPMetrics(s *Server) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cairn_http_requests_total",
			Help: "HTTP requests served, by method, route pattern and status code.",
		}, []string{"method", "route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "cairn_http_request_duration_seconds",
			Help:    "Time to serve an HTTP request, by method and route pattern (a watch counts its whole stream).",
			Buckets: prometheus.DefBuckets,
		}, []string{"method", "route"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cairn_http_requests_in_flight",
			Help: "HTTP requests being served, watch streams included.",
		}),
		watchers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cairn_http_watchers",
			Help: "Open Server-Sent Events watch streams.",
		}),
		watchEntries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cairn_http_watch_entries_total",
			Help: "Entries sent to Server-Sent Events watch streams.",
		}),
	}
	m.requests = register(s, m.requests)
	m.latency = register(s, m.latency)
	m.inFlight = register(s, m.inFlight)
	m.watchers = register(s, m.watchers)
	m.watchEntries = register(s, m.watchEntries)
	for _, c := range s.n.Collectors() {
		register(s, c)
	}
	register(s, prometheus.Collector(&bucketCollector{n: s.n, limit: s.opts.BucketSeriesLimit}))
	register(s, collectors.NewGoCollector())
	register(s, collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// register adds c to the registry. If an identical collector is already
// there (a registry shared by several servers, or Go and process
// collectors registered by the caller), the existing one is used.
func register[C prometheus.Collector](s *Server, c C) C {
	if err := s.reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if ex, ok := are.ExistingCollector.(C); ok {
				return ex
			}
			return c
		}
		s.lg.Warn("registering metrics", "err", err)
	}
	return c
}

var knownMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPut: true, http.MethodPost: true,
	http.MethodDelete: true, http.MethodPatch: true, http.MethodOptions: true,
}

func (m *httpMetrics) observe(method, route string, code int, d time.Duration) {
	if !knownMethods[method] {
		method = "other"
	}
	m.requests.WithLabelValues(method, route, strconv.Itoa(code)).Inc()
	m.latency.WithLabelValues(method, route).Observe(d.Seconds())
}

func (s *Server) metricsHandler() http.Handler {
	return promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{
		ErrorLog:          promLogger{s},
		ErrorHandling:     promhttp.ContinueOnError,
		EnableOpenMetrics: true,
	})
}

type promLogger struct{ s *Server }

func (l promLogger) Println(v ...any) { l.s.lg.Warn("metrics", "err", v) }

// bucketCollector reads bucket state from the node at scrape time. With
// more buckets than limit, only the totals are exported: per-bucket series
// for thousands of buckets would swamp Prometheus.
type bucketCollector struct {
	n     *node.Node
	limit int
}

var (
	bucketLabel = []string{"bucket"}

	descNodeInfo = prometheus.NewDesc("cairn_node_info",
		"This node's identity (always 1).", []string{"node_id", "name"}, nil)
	descBuckets = prometheus.NewDesc("cairn_buckets",
		"Buckets this node holds a replica of.", nil, nil)
	descBucketSeriesOmitted = prometheus.NewDesc("cairn_bucket_series_omitted",
		"1 if per-bucket series are left out because there are more buckets than the HTTP API's bucket series limit.", nil, nil)
	descBucketInfo = prometheus.NewDesc("cairn_bucket_info",
		"A bucket's configuration (always 1).", []string{"bucket", "group", "storage", "replicas", "history"}, nil)
	descBucketMessages = prometheus.NewDesc("cairn_bucket_messages",
		"Revisions stored in a bucket (values and markers, history included).", bucketLabel, nil)
	descBucketBytes = prometheus.NewDesc("cairn_bucket_bytes",
		"Bytes of the revisions stored in a bucket.", bucketLabel, nil)
	descBucketMaxBytes = prometheus.NewDesc("cairn_bucket_max_bytes",
		"A bucket's size limit in bytes (-1: unlimited).", bucketLabel, nil)
	descBucketKeys = prometheus.NewDesc("cairn_bucket_keys",
		"Keys with at least one stored revision in a bucket.", bucketLabel, nil)
	descBucketLastRev = prometheus.NewDesc("cairn_bucket_last_revision",
		"Highest revision a bucket has assigned.", bucketLabel, nil)
	descBucketLeaderKnown = prometheus.NewDesc("cairn_bucket_leader_known",
		"1 if this replica of a bucket knows its group's leader, else 0.", bucketLabel, nil)
	descBucketIsLeader = prometheus.NewDesc("cairn_bucket_is_leader",
		"1 if this node leads the bucket's group, else 0.", bucketLabel, nil)
)

func (c *bucketCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descNodeInfo, descBuckets, descBucketSeriesOmitted, descBucketInfo,
		descBucketMessages, descBucketBytes, descBucketMaxBytes, descBucketKeys, descBucketLastRev,
		descBucketLeaderKnown, descBucketIsLeader} {
		ch <- d
	}
}

func (c *bucketCollector) Collect(ch chan<- prometheus.Metric) {
	self := c.n.NodeID()
	ch <- prometheus.MustNewConstMetric(descNodeInfo, prometheus.GaugeValue, 1, nodeID(self), c.n.Name())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	infos, err := c.n.Buckets(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descBuckets, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(descBuckets, prometheus.GaugeValue, float64(len(infos)))
	omit := c.limit < 0 || len(infos) > c.limit
	ch <- prometheus.MustNewConstMetric(descBucketSeriesOmitted, prometheus.GaugeValue, b2f(omit))
	if omit {
		return
	}
	gauge := func(d *prometheus.Desc, v float64, bucket string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, bucket)
	}
	for _, bi := range infos {
		name, st := bi.Config.Name, bi.State
		ch <- prometheus.MustNewConstMetric(descBucketInfo, prometheus.GaugeValue, 1, name,
			strconv.FormatUint(bi.Group, 10), string(bi.Config.Storage), strconv.Itoa(bi.Config.Replicas),
			strconv.FormatInt(bi.Config.History, 10))
		gauge(descBucketMessages, float64(st.Msgs), name)
		gauge(descBucketBytes, float64(st.Bytes), name)
		gauge(descBucketMaxBytes, float64(bi.Config.MaxBytes), name)
		gauge(descBucketKeys, float64(st.Keys), name)
		gauge(descBucketLastRev, float64(st.Last), name)
		gauge(descBucketLeaderKnown, b2f(bi.Leader != 0), name)
		gauge(descBucketIsLeader, b2f(bi.Leader == self), name)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
