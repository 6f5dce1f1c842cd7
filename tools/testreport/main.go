// Command testreport turns `go test -json` into what `go test` prints
// without -v (package summaries, and the whole output of failing tests),
// followed by a list of every skipped test with its reason.
//
// Plain `go test` drops the output of passing packages, skip reasons
// included, so a test that skipped for want of FUSE, Docker or a tool
// looked the same in CI as one that ran. `make test` pipes through this
// so that skips are always listed. It owns only this formatting and
// touches nothing else; the exit status of the run is go test's (make
// runs with pipefail), and it also exits 1 if any test or build failed.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action     string
	Package    string
	ImportPath string // build events
	Test       string
	Output     string
}

func main() {
	failed, err := report(os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testreport:", err)
		os.Exit(2)
	}
	if failed {
		os.Exit(1)
	}
}

// report reads events from r and writes the report to w. failed is true
// when a test, a package or a build failed.
func report(r io.Reader, w io.Writer) (failed bool, err error) {
	// Unbuffered: each package's summary shows as soon as it finishes,
	// as plain go test shows it.
	out := w
	type key struct{ pkg, test string }
	buffered := map[key][]string{}
	var skips []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if json.Unmarshal(line, &e) != nil || e.Action == "" {
			fmt.Fprintln(out, string(line)) // not an event: pass it on
			continue
		}
		k := key{e.Package, e.Test}
		switch e.Action {
		case "build-output":
			fmt.Fprint(out, e.Output)
		case "build-fail":
			failed = true
		case "output":
			if e.Test == "" {
				// Package level: the ok/FAIL summary, panics, TestMain
				// output.
				if !strings.HasPrefix(e.Output, "PASS") && !strings.HasPrefix(e.Output, "=== ") {
					fmt.Fprint(out, e.Output)
				}
				continue
			}
			buffered[k] = append(buffered[k], e.Output)
		case "fail":
			failed = true
			if e.Test != "" {
				for _, l := range buffered[k] {
					fmt.Fprint(out, l)
				}
			}
			delete(buffered, k)
		case "skip":
			if e.Test != "" {
				skips = append(skips, fmt.Sprintf("%s %s: %s", e.Package, e.Test, skipReason(buffered[k])))
			}
			delete(buffered, k)
		case "pass":
			delete(buffered, k)
		}
	}
	if err := sc.Err(); err != nil {
		return failed, err
	}
	if len(skips) > 0 {
		fmt.Fprintf(out, "\n%d tests SKIPPED (not run):\n", len(skips))
		for _, s := range skips {
			fmt.Fprintln(out, "  "+s)
		}
	} else {
		fmt.Fprintln(out, "\nno test skipped")
	}
	return failed, nil
}

// skipReason is what the test logged before skipping, on one line: its
// own log lines, without the === and --- lines go test adds.
func skipReason(lines []string) string {
	var parts []string
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, "--- ") {
			continue
		}
		parts = append(parts, t)
	}
	if len(parts) == 0 {
		return "(no reason given)"
	}
	return strings.Join(parts, " / ")
}
