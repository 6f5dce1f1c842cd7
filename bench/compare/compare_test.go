package compare

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairnkv/cairn/bench/report"
	"github.com/cairnkv/cairn/bench/workload"
)

// compareEtcdWithMissingNATS compares a one-node etcd (the test is
// skipped without one) with a nats-server whose binary does not exist,
// ops operations per run, writing to out.
func compareEtcdWithMissingNATS(t *testing.T, out string, workloads []string, ops int64, rounds int) *report.Result {
	t.Helper()
	if _, err := exec.LookPath("etcd"); err != nil {
		t.Skip("etcd is not installed (apt-get install etcd-server)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := Run(ctx, Config{
		Workloads:  workloads,
		Targets:    []string{"etcd", "nats"},
		Nodes:      1,
		NATSBin:    "/nonexistent/nats-server",
		WorkDir:    t.TempDir(),
		OutDir:     out,
		Run:        workload.Config{Clients: 2, Ops: ops, Duration: 10 * time.Second},
		IdleWindow: 200 * time.Millisecond,
		Rounds:     rounds,
		Command:    "test",
	})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// A comparison of a one-node etcd (if installed) with a nats-server whose
// binary does not exist: etcd is measured, nats is recorded as failed,
// bucket-create is unsupported on etcd, and all three files are written.
func TestCompareWritesResultsAndReportsFailures(t *testing.T) {
	out := t.TempDir()
	res := compareEtcdWithMissingNATS(t, out, []string{workload.Put, workload.BucketCreate}, 50, 1)
	put, ok := res.Find("etcd", workload.Put)
	if !ok || put.Ops != 50 || put.Errors != 0 || put.Params.Replicas != 1 {
		t.Fatalf("etcd put: %+v", put)
	}
	if bc, _ := res.Find("etcd", workload.BucketCreate); bc.Unsupported == "" {
		t.Fatalf("bucket-create on etcd: %+v", bc)
	}
	if np, _ := res.Find("nats", workload.Put); !strings.Contains(np.Failed, "not found") {
		t.Fatalf("nats put: %+v", np)
	}
	if res.Targets[0].Version == "" || !strings.Contains(res.Targets[1].Notes, "did not start") {
		t.Fatalf("targets: %+v", res.Targets)
	}
	for _, f := range []string{"results.json", "results.md", "report.html"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Fatalf("%s: %v", f, err)
		}
	}
	back, err := report.ReadFile(filepath.Join(out, "results.json"))
	if err != nil || len(back.Runs) != 4 {
		t.Fatalf("results.json: %v, %d runs", err, len(back.Runs))
	}
}

// A second cairn target whose binary does not exist is reported as not
// started, like a missing nats-server, and the other target is measured.
func TestCompareReportsMissingCairnBBinary(t *testing.T) {
	if _, err := exec.LookPath("etcd"); err != nil {
		t.Skip("etcd is not installed (apt-get install etcd-server)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := Run(ctx, Config{
		Workloads:  []string{workload.Put},
		Targets:    []string{"etcd", CairnB},
		Nodes:      1,
		CairnBBin:  "/nonexistent/cairn",
		WorkDir:    t.TempDir(),
		OutDir:     t.TempDir(),
		Run:        workload.Config{Clients: 2, Ops: 20, Duration: 10 * time.Second},
		IdleWindow: 200 * time.Millisecond,
		Command:    "test",
	})
	if err != nil {
		t.Fatal(err)
	}
	if put, _ := res.Find("etcd", workload.Put); put.Ops != 20 || put.Errors != 0 {
		t.Fatalf("etcd put: %+v", put)
	}
	if cp, _ := res.Find(CairnB, workload.Put); !strings.Contains(cp.Failed, "not found") || !strings.Contains(cp.Failed, "/nonexistent/cairn") {
		t.Fatalf("cairn-b put: %+v", cp)
	}
}

func TestCompareRejectsUnknownNames(t *testing.T) {
	for _, c := range []Config{
		{Targets: []string{"redis"}, OutDir: t.TempDir()},
		{Workloads: []string{"scan"}, OutDir: t.TempDir()},
	} {
		if _, err := Run(context.Background(), c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

// With --rounds the matrix runs again with the targets in reverse order,
// every run carries its round, and the tables say how many rounds the
// ratios come from.
func TestCompareRounds(t *testing.T) {
	out := t.TempDir()
	res := compareEtcdWithMissingNATS(t, out, []string{workload.Put}, 20, 2)
	var got []string
	for _, run := range res.Runs {
		got = append(got, fmt.Sprintf("%d:%s", run.Round, run.Target))
	}
	if want := "1:etcd 1:nats 2:nats 2:etcd"; strings.Join(got, " ") != want {
		t.Fatalf("runs in order %v, want %s", got, want)
	}
	for _, run := range res.FindAll("etcd", workload.Put) {
		if run.Ops != 20 || run.Failed != "" {
			t.Fatalf("etcd put in round %d: %+v", run.Round, run)
		}
	}
	md, err := os.ReadFile(filepath.Join(out, "results.md"))
	if err != nil || !strings.Contains(string(md), "2 rounds: the whole matrix ran 2 times") {
		t.Fatalf("results.md: %v\n%s", err, md)
	}
}
