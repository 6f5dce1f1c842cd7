package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// metricSources are the trees whose code defines the Prometheus metrics a
// node exports.
var metricSources = []string{"node", "replication", "storage", "membership"}

// TestOperationsDocListsEveryMetric keeps the metrics table of
// docs/operations.md equal to the code: every metric family named in the
// code (a "cairn_..." string literal) is documented, and every cairn_
// name the document mentions exists.
func TestOperationsDocListsEveryMetric(t *testing.T) {
	root := filepath.Join("..", "..")
	literal := regexp.MustCompile(`"(cairn_[a-z0-9_]+)"`)
	code := map[string]bool{}
	for _, dir := range metricSources {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			src, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range literal.FindAllSubmatch(src, -1) {
				code[string(m[1])] = true
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(code) < 10 {
		t.Fatalf("found only %d metric names in %v; has the code moved?", len(code), metricSources)
	}
	doc, err := os.ReadFile(filepath.Join(root, "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	for name := range code {
		if !strings.Contains(string(doc), "`"+name+"`") {
			missing = append(missing, name)
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		t.Errorf("docs/operations.md (Monitoring, Metrics) does not list these metrics the code exports; add a row for each: %v", missing)
	}
	for _, name := range regexp.MustCompile(`cairn_[a-z0-9_]+`).FindAllString(string(doc), -1) {
		if strings.HasSuffix(name, "_") {
			continue // a family of metrics: cairn_bucket_*
		}
		base := name
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(name, suffix); ok && code[b] {
				base = b
			}
		}
		if !code[base] {
			t.Errorf("docs/operations.md mentions %s, which no code in %v exports", name, metricSources)
		}
	}
}
