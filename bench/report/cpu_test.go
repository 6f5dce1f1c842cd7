package report

import (
	"bytes"
	"strings"
	"testing"
)

// The servers' CPU per operation gets its own table, with the first
// target's ratio to the others, only when some run measured it.
func TestServerCPUTable(t *testing.T) {
	r := &Result{Schema: SchemaVersion, Targets: []Target{{Name: "cairn"}, {Name: "nats"}, {Name: "etcd"}}}
	for _, run := range []Run{
		{Target: "cairn", Workload: "put", Ops: 100, OpsPerSec: 10, ServerCPUPerOpUS: 60},
		{Target: "nats", Workload: "put", Ops: 100, OpsPerSec: 10, ServerCPUPerOpUS: 30},
		{Target: "etcd", Workload: "put", Ops: 100, OpsPerSec: 10},
	} {
		r.Runs = append(r.Runs, run)
	}
	var b bytes.Buffer
	if err := WriteMarkdown(&b, r); err != nil {
		t.Fatal(err)
	}
	want := "| put | 60 µs | 30 µs | — | 2.00× | — |"
	if !strings.Contains(b.String(), want) || !strings.Contains(b.String(), "| workload | cairn server CPU per op |") {
		t.Fatalf("markdown lacks %q:\n%s", want, b.String())
	}
	r.Runs[0].ServerCPUPerOpUS, r.Runs[1].ServerCPUPerOpUS = 0, 0
	b.Reset()
	if err := WriteMarkdown(&b, r); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "server CPU") {
		t.Fatalf("a CPU table without figures:\n%s", b.String())
	}
}
