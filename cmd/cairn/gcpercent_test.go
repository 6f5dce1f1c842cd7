package main

import (
	"log/slog"
	"os"
	"runtime/debug"
	"testing"
)

// gc-percent sets the collector's target, except when the operator set
// GOGC in the environment.
func TestApplyGCPercent(t *testing.T) {
	prev := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(prev) })
	tests := []struct {
		name string
		gogc *string
		want int
	}{
		{"no GOGC: gc-percent applies", nil, 321},
		{"GOGC set: left alone", ptr("100"), 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("GOGC", "")
			if tt.gogc == nil {
				os.Unsetenv("GOGC")
			} else {
				t.Setenv("GOGC", *tt.gogc)
			}
			debug.SetGCPercent(100)
			applyGCPercent(321, slog.Default())
			if got := debug.SetGCPercent(100); got != tt.want {
				t.Fatalf("GC percent %d, want %d", got, tt.want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
