package storage

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// Pebble's fatal errors stop the node with one ERROR line that says what
// failed and, for a full disk, what to do; the process exits with
// ExitStorageFailed rather than panicking with a goroutine dump.
func TestPebbleFatalStopsWithAClearMessage(t *testing.T) {
	cases := []struct {
		name, format string
		args         []any
		hint         bool
	}{
		{"full disk", "pebble: fatal commit error: %v", []any{"write 000123.log: no space left on device"}, true},
		{"other", "pebble: corrupt manifest %s", []any{"MANIFEST-000001"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			exited := 0
			old := fatalExit
			fatalExit = func() { exited++ }
			defer func() { fatalExit = old }()
			var buf bytes.Buffer
			lg := pebbleLogger{slog.New(slog.NewTextHandler(&buf, nil))}
			func() {
				defer func() { _ = recover() }()
				lg.Fatalf(tc.format, tc.args...)
			}()
			out := buf.String()
			if exited != 1 {
				t.Fatalf("exit called %d times", exited)
			}
			if strings.Count(out, "\n") != 1 || !strings.Contains(out, "level=ERROR") || !strings.Contains(out, "storage failed") ||
				!strings.Contains(out, "exit_status=3") || !strings.Contains(out, "err=\"pebble: ") {
				t.Fatalf("log: %s", out)
			}
			if got := strings.Contains(out, "hint=") && strings.Contains(out, "--min-free-disk"); got != tc.hint {
				t.Fatalf("hint shown %v, want %v: %s", got, tc.hint, out)
			}
		})
	}
}
