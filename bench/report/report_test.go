package report

import (
	"bytes"
	"encoding/xml"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func lat(p50, p99 float64) Latency {
	l := Latency{Count: 1000, MinUS: p50 / 2, MeanUS: p50 * 1.1, P50US: p50, P90US: p50 * 1.5, P99US: p99, P999US: p99 * 2, MaxUS: p99 * 4}
	for _, p := range Percentiles {
		us := p50 * (1 + p/100)
		switch {
		case p >= 99.9:
			us = p99 * 2
		case p >= 99:
			us = p99
		}
		l.Spectrum = append(l.Spectrum, Point{Pct: p, US: us})
	}
	return l
}

func params(clients int) Params {
	return Params{Clients: clients, Duration: "10s", Warmup: "2s", Keyspace: 10000, KeyDist: "uniform",
		ValueSize: "128", Replicas: 3, Storage: "file", Seed: 1}
}

func intervals(rate float64) []Interval {
	var out []Interval
	for i := 1; i <= 5; i++ {
		out = append(out, Interval{T: float64(i), OpsPerSec: rate * (0.9 + 0.05*float64(i%3)), P50US: 900, P99US: 3000})
	}
	return out
}

// fixture is a fixed comparison: three targets, a workload etcd cannot
// run, a failed run and a run with errors.
func fixture() *Result {
	r := &Result{
		Schema:  SchemaVersion,
		Started: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC),
		Command: "cairn bench compare --duration 10s",
		Host:    Host{CPUs: 2, GoVersion: "go1.26.8", OS: "linux/amd64", Harness: "v0.0.0-test"},
		Targets: []Target{
			{Name: "cairn", Version: "dev", Nodes: 3, IdleCPU: ptr(2.5)},
			{Name: "nats", Version: "v2.15.2", Nodes: 3, IdleCPU: ptr(0.0), Notes: "fsync every 2 min"},
			{Name: "etcd", Version: "3.4.23", Nodes: 3},
		},
		Notes: []string{"ratios are cairn's figure over the other's"},
	}
	add := func(target, wl string, rate, p50, p99 float64) *Run {
		r.Runs = append(r.Runs, Run{Target: target, Workload: wl, Params: params(64), Elapsed: 10,
			Ops: int64(rate * 10), OpsPerSec: rate, BytesPerSec: rate * 128, Latency: lat(p50, p99), Intervals: intervals(rate)})
		return &r.Runs[len(r.Runs)-1]
	}
	add("cairn", "put", 30000, 1800, 4500)
	add("nats", "put", 20000, 2500, 9000)
	add("etcd", "put", 15000, 3500, 12000)
	add("cairn", "get", 60000, 900, 2500)
	add("nats", "get", 40000, 1200, 2400)
	e := add("etcd", "get", 30000, 1600, 5000)
	e.Errors, e.ErrorClasses = 12, map[string]int64{"timeout": 10, "unavailable": 2}
	e.ErrorSamples = map[string][]string{"timeout": {"context deadline exceeded"}}
	add("cairn", "bucket-create", 85.5, 20000, 90000)
	add("nats", "bucket-create", 4.2, 200000, 700000)
	r.Runs = append(r.Runs, Run{Target: "etcd", Workload: "bucket-create", Params: params(64),
		Unsupported: "etcd has a single key space replicated by one raft group: there are no buckets to create"})
	w := add("cairn", "watch", 5000, 700, 2000)
	w.Delivery, w.Deliveries, w.ExpectedDeliveries = &Latency{Count: 80000, P50US: 1500, P99US: 6000}, 80000, 80000
	r.Runs = append(r.Runs, Run{Target: "nats", Workload: "watch", Params: params(64), Failed: "connecting: no servers available"})
	add("etcd", "watch", 6000, 600, 1900)
	return r
}

func ptr(f float64) *float64 { return &f }

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run with -update after checking):\n%s", name, got)
	}
}

func TestMarkdownGolden(t *testing.T) {
	var b bytes.Buffer
	if err := WriteMarkdown(&b, fixture()); err != nil {
		t.Fatal(err)
	}
	golden(t, "report.md", b.Bytes())
	// Independently of the golden file: the put ratios are 1.5 and 2.0,
	// and etcd's bucket-create is unsupported.
	md := b.String()
	for _, want := range []string{"| put | 30,000 /s | 20,000 /s | 15,000 /s | 1.50× | 2.00× |",
		"| bucket-create | 86 /s | 4.20 /s | unsupported | 20.36× | — |",
		"| get | 60,000 /s | 40,000 /s | 30,000 /s (12 errors) |",
		"| watch | 5,000 /s | failed | 6,000 /s | — | 0.83× |",
		"| put | 1.80 ms / 4.50 ms | 2.50 ms / 9.00 ms | 3.50 ms / 12.0 ms | 0.50× | 0.38× |"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
}

func TestTextGolden(t *testing.T) {
	var b bytes.Buffer
	if err := WriteText(&b, fixture()); err != nil {
		t.Fatal(err)
	}
	golden(t, "report.txt", b.Bytes())
}

func TestJSONRoundTrip(t *testing.T) {
	in := fixture()
	var b bytes.Buffer
	if err := WriteJSON(&b, in); err != nil {
		t.Fatal(err)
	}
	out, err := ReadJSON(&b)
	if err != nil {
		t.Fatal(err)
	}
	var m1, m2 bytes.Buffer
	_ = WriteMarkdown(&m1, in)
	_ = WriteMarkdown(&m2, out)
	if m1.String() != m2.String() {
		t.Fatal("markdown differs after a JSON round trip")
	}
	if _, err := ReadJSON(strings.NewReader(`{"schema": 99}`)); err == nil {
		t.Fatal("foreign schema accepted")
	}
}

// The HTML report is well-formed, self-contained (no scripts, no
// external resources), has one chart set per workload, and its bars are
// in proportion to the throughputs.
func TestHTMLReport(t *testing.T) {
	var b bytes.Buffer
	if err := WriteHTML(&b, fixture()); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, bad := range []string{"<script", "src=", "href=", "@import", "url("} {
		if strings.Contains(page, bad) {
			t.Errorf("report contains %q: it must be self-contained", bad)
		}
	}
	d := xml.NewDecoder(strings.NewReader(page))
	d.Strict = true
	d.Entity = xml.HTMLEntity
	var svgs, polylines int
	putBars := map[string]float64{}
	inPutChart := false
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("report is not well-formed: %v", err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		attr := func(n string) string {
			for _, a := range se.Attr {
				if a.Name.Local == n {
					return a.Value
				}
			}
			return ""
		}
		switch se.Name.Local {
		case "svg":
			svgs++
			inPutChart = attr("aria-label") == "put: throughput (ops/s)"
		case "polyline":
			polylines++
		case "rect":
			if v := attr("data-value"); inPutChart && v != "" {
				h, _ := strconv.ParseFloat(attr("height"), 64)
				val, _ := strconv.ParseFloat(v, 64)
				putBars[v] = h / val
			}
		}
	}
	// 4 workloads: a bar chart each, and a spectrum and a timeline for
	// each workload with a usable run.
	if svgs != 12 {
		t.Errorf("%d charts, want 12", svgs)
	}
	// Lines: put 3+3, get 3+3, bucket-create 2+2, watch 2+2.
	if polylines != 20 {
		t.Errorf("%d lines, want 20", polylines)
	}
	if len(putBars) != 3 {
		t.Fatalf("put chart bars: %v", putBars)
	}
	var scale float64
	for _, s := range putBars {
		if scale == 0 {
			scale = s
		}
		if s/scale < 0.98 || s/scale > 1.02 {
			t.Fatalf("bar heights are not proportional to throughput: %v", putBars)
		}
	}
	for _, want := range []string{"unsupported", "connecting: no servers available", "80000 of 80000 watch deliveries", "cairn bench compare --duration 10s"} {
		if !strings.Contains(page, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

func TestFormats(t *testing.T) {
	for _, c := range [][2]string{
		{Rate(1234567.4), "1,234,567"}, {Rate(3.14159), "3.14"}, {Micros(850), "850 µs"}, {Micros(1234), "1.23 ms"},
		{Micros(45678), "45.7 ms"}, {Micros(250_000), "250 ms"}, {Micros(2_500_000), "2.50 s"}, {Bytes(1_500_000), "1.5 MB/s"}, {Ratio(3, 2), "1.50×"},
		{Ratio(0, 2), "—"}, {short(12000), "12k"}, {short(1_500_000), "1.5M"},
	} {
		if c[0] != c[1] {
			t.Errorf("got %q, want %q", c[0], c[1])
		}
	}
	if got := linearTicks(87); len(got) < 4 || got[len(got)-1] < 87 {
		t.Errorf("ticks %v", got)
	}
}
