package main

import (
	"log/slog"
	"os"
	"runtime/debug"
)

// defaultGCPercent is the node's GOGC unless configured. A node's live
// Go heap is small (Pebble keeps its memtables and block cache outside
// it: about 5 MB live under load), so with Go's default of 100 the
// collector ran several times a second under load, and measured with the
// bench harness a 3-node cluster spent about a fifth of its CPU on
// collection that a target of 400 saves (docs/benchmarks.md). The price
// is a heap that may grow to five times the live data before a
// collection, 25 MB instead of 10 MB here.
const defaultGCPercent = 400

// applyGCPercent sets the collector's target for this process, unless
// the GOGC environment variable was given (the Go runtime has applied it
// already, and an operator who set it meant it).
func applyGCPercent(percent int, lg *slog.Logger) {
	if v, ok := os.LookupEnv("GOGC"); ok {
		lg.Debug("GOGC from the environment wins over gc-percent", "GOGC", v)
		return
	}
	debug.SetGCPercent(percent)
}
