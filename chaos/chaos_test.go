package chaos_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnkv/cairn/chaos"
	"github.com/cairnkv/cairn/chaos/db"
	"github.com/cairnkv/cairn/chaos/netfault"
)

// TestChaosShortRunCI is the chaos run CI makes on every change: a real
// cairn binary (built here, with -race when the test runs with it), 3
// nodes in network namespaces, about 90 s of load with every nemesis
// this machine can run, then every checker. Any anomaly fails it. As
// root (CI) that is every nemesis but delay where the kernel lacks tc
// netem; elsewhere the network and disk nemeses are skipped, which the
// test says loudly. `make chaos` runs the long version.
func TestChaosShortRunCI(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos run: builds cairn and runs 3 nodes for 90 s")
	}
	if err := netfault.Check(); err != nil {
		t.Logf("LOUD: network and disk nemeses will be skipped: %v", err)
	}
	bin := buildCairn(t)
	dir := t.TempDir()
	cfg := chaos.DefaultConfig()
	cfg.Bin, cfg.Dir, cfg.Nodes, cfg.Replicas = bin, dir, 3, 3
	cfg.Duration, cfg.Interval, cfg.Hold = 90*time.Second, 2*time.Second, 3*time.Second
	cfg.Rate = 10
	cfg.DiskSize = 256 << 20
	cfg.RecoverTimeout = 60 * time.Second
	cfg.CheckTimeout = 2 * time.Minute
	var out bytes.Buffer
	cfg.Out = &out
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rep, err := chaos.Run(ctx, cfg)
	if err != nil {
		t.Fatalf("the run could not be carried out: %v\n%s", err, out.String())
	}
	rep.Print(&out)
	t.Log(out.String())
	for name, why := range rep.Skipped {
		t.Logf("LOUD: nemesis %s skipped: %s", name, why)
	}
	if len(rep.Faults) < 6 {
		t.Errorf("only %d faults injected: the run missed its aim", len(rep.Faults))
	}
	if rep.Total < 1000 {
		t.Errorf("only %d operations: the run missed its aim", rep.Total)
	}
	if !rep.Valid {
		t.Errorf("%d anomalies: %v (node logs and porcupine's visualization are in %s; kept because the test failed)", rep.AnomalyTotal(), rep.AnomalyCounts, dir)
		keep(t, dir)
	}
}

// TestChaosExternalClusterCI runs the workloads and checkers against a
// cluster the harness did not start (--servers): here 3 local nodes
// started beforehand, without faults.
func TestChaosExternalClusterCI(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos run: builds cairn and runs 3 nodes")
	}
	bin := buildCairn(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	l, err := db.Start(ctx, db.Options{Kind: db.Cairn, Bin: bin, Nodes: 3, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cfg := chaos.DefaultConfig()
	cfg.Servers, cfg.Nemeses, cfg.Duration, cfg.Rate = l.URLs(), nil, 10*time.Second, 10
	rep, err := chaos.Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	rep.Print(&out)
	t.Log(out.String())
	if !rep.Valid || rep.Total < 500 || len(rep.Scans) != 6 || rep.Target != "external" {
		t.Fatalf("valid %v, %d ops, %d scans, target %s", rep.Valid, rep.Total, len(rep.Scans), rep.Target)
	}
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// buildCairn builds cmd/cairn once into a temporary directory.
func buildCairn(t *testing.T) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("LOUD: no go tool to build cairn with: %v", err)
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "cairn-chaos-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "cairn")
		args := []string{"build", "-o", binPath}
		if raceEnabled {
			args = append(args, "-race")
		}
		cmd := exec.Command(gobin, append(args, "github.com/cairnkv/cairn/cmd/cairn")...)
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("building cairn: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// keep copies a failed run's directory somewhere that outlives the test.
func keep(t *testing.T, dir string) {
	dst, err := os.MkdirTemp("", "cairn-chaos-failed-")
	if err != nil {
		return
	}
	if out, err := exec.Command("cp", "-a", dir+"/.", dst).CombinedOutput(); err != nil {
		t.Logf("keeping %s: %v %s", dir, err, strings.TrimSpace(string(out)))
		return
	}
	t.Logf("the failed run's files are kept in %s", dst)
}
