package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// newLogger returns a slog logger writing to w in the configured format
// and level.
func newLogger(w io.Writer, lc logConfig) (*slog.Logger, error) {
	level, err := parseLevel(lc.Level)
	if err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: level}
	switch lc.Format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("log format %q is neither text nor json", lc.Format)
	}
}

// parseLevel accepts exactly debug, info, warn and error (any case).
func parseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	default:
		return 0, fmt.Errorf("log level %q is not one of debug, info, warn, error", s)
	}
}
