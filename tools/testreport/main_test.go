package main

import (
	"strings"
	"testing"
)

func TestReport(t *testing.T) {
	tests := []struct {
		name       string
		events     string
		wantFailed bool
		want       []string // substrings of the report, in order
		notWant    []string
	}{
		{
			name: "skips are listed with their reason, passing output dropped",
			events: `{"Action":"run","Package":"p","Test":"TestA"}
{"Action":"output","Package":"p","Test":"TestA","Output":"=== RUN   TestA\n"}
{"Action":"output","Package":"p","Test":"TestA","Output":"    a_test.go:9: chatter\n"}
{"Action":"pass","Package":"p","Test":"TestA"}
{"Action":"output","Package":"p","Test":"TestB","Output":"=== RUN   TestB\n"}
{"Action":"output","Package":"p","Test":"TestB","Output":"    b_test.go:3: no /dev/fuse\n"}
{"Action":"output","Package":"p","Test":"TestB","Output":"--- SKIP: TestB (0.00s)\n"}
{"Action":"skip","Package":"p","Test":"TestB"}
{"Action":"output","Package":"p","Output":"PASS\n"}
{"Action":"output","Package":"p","Output":"ok  \tp\t0.1s\n"}
{"Action":"pass","Package":"p"}
`,
			want:    []string{"ok  \tp\t0.1s", "1 tests SKIPPED (not run):", "p TestB: b_test.go:3: no /dev/fuse"},
			notWant: []string{"chatter", "PASS\n"},
		},
		{
			name: "a failing test's whole output is shown",
			events: `{"Action":"output","Package":"p","Test":"TestC","Output":"=== RUN   TestC\n"}
{"Action":"output","Package":"p","Test":"TestC","Output":"    c_test.go:5: boom\n"}
{"Action":"output","Package":"p","Test":"TestC","Output":"--- FAIL: TestC (0.00s)\n"}
{"Action":"fail","Package":"p","Test":"TestC"}
{"Action":"output","Package":"p","Output":"FAIL\tp\t0.2s\n"}
{"Action":"fail","Package":"p"}
`,
			wantFailed: true,
			want:       []string{"c_test.go:5: boom", "--- FAIL: TestC", "FAIL\tp\t0.2s", "no test skipped"},
		},
		{
			name: "build failures and plain lines pass through",
			events: `# p
{"ImportPath":"p","Action":"build-output","Output":"./x.go:1:1: syntax error\n"}
{"ImportPath":"p","Action":"build-fail"}
`,
			wantFailed: true,
			want:       []string{"# p", "./x.go:1:1: syntax error"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			failed, err := report(strings.NewReader(tt.events), &b)
			if err != nil {
				t.Fatal(err)
			}
			if failed != tt.wantFailed {
				t.Fatalf("failed %v, want %v", failed, tt.wantFailed)
			}
			got := b.String()
			rest := got
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("report lacks %q (in order):\n%s", w, got)
				}
				rest = rest[i+len(w):]
			}
			for _, w := range tt.notWant {
				if strings.Contains(got, w) {
					t.Fatalf("report has %q:\n%s", w, got)
				}
			}
		})
	}
}
