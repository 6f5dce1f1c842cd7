package db

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestExitReasonFindsThePanic(t *testing.T) {
	cases := []struct {
		name, log, want string
	}{
		{"panic in a stack trace", "{\"msg\":\"started\"}\npanic: pebble: fatal commit error: no space left on device\n\ngoroutine 1 [running]:\nmain.main()\n\t/x.go:1 +0x1\n", "panic: pebble: fatal commit error: no space left on device"},
		{"fatal log line", "a\n{\"level\":\"ERROR\",\"msg\":\"disk\",\"fatal\":true}\nb\n", "{\"level\":\"ERROR\",\"msg\":\"disk\",\"fatal\":true}"},
		{"runtime fatal error", "x\nfatal error: concurrent map writes\n\tstack\n", "fatal error: concurrent map writes"},
		{"nothing special", "one\ntwo\n", "two"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "n1.log")
			if err := os.WriteFile(p, []byte(c.log), 0o644); err != nil {
				t.Fatal(err)
			}
			if got := exitReason(p); got != c.want {
				t.Fatalf("got %q, want %q", got, c.want)
			}
		})
	}
	long := strings.Repeat("x", 1000)
	p := filepath.Join(t.TempDir(), "n2.log")
	_ = os.WriteFile(p, []byte(long+"\n"), 0o644)
	if got := exitReason(p); len(got) > 410 {
		t.Fatalf("reason not clipped: %d bytes", len(got))
	}
}
