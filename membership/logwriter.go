package membership

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
)

// logWriter adapts memberlist's *log.Logger output ("[LEVEL] memberlist:
// message" lines) to slog, mapping the bracketed level.
type logWriter struct {
	log *slog.Logger
	// onSuspect, if set, is called with the node name when memberlist's
	// prober suspects a node. memberlist v0.7 reports that only in this
	// log line; membership_test checks the line is still recognised.
	onSuspect func(name string)
}

func (w *logWriter) Write(p []byte) (int, error) {
	for line := range bytes.Lines(p) {
		line = bytes.TrimRight(line, "\r\n")
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		level, msg := parseLogLine(string(line))
		if w.onSuspect != nil {
			if name, ok := suspectedNode(msg); ok {
				w.onSuspect(name)
			}
		}
		w.log.Log(context.Background(), level, msg)
	}
	return len(p), nil
}

// parseLogLine splits "[LEVEL] memberlist: msg" into a slog level and msg.
// A line without a recognised level is logged at Info, unchanged.
func parseLogLine(line string) (slog.Level, string) {
	s := strings.TrimSpace(line)
	if !strings.HasPrefix(s, "[") {
		return slog.LevelInfo, s
	}
	end := strings.IndexByte(s, ']')
	if end < 0 {
		return slog.LevelInfo, s
	}
	var level slog.Level
	switch strings.ToUpper(s[1:end]) {
	case "TRACE", "DEBUG":
		level = slog.LevelDebug
	case "INFO":
		level = slog.LevelInfo
	case "WARN", "WARNING":
		level = slog.LevelWarn
	case "ERR", "ERROR":
		level = slog.LevelError
	default:
		return slog.LevelInfo, s
	}
	msg := strings.TrimSpace(s[end+1:])
	msg = strings.TrimPrefix(msg, "memberlist: ")
	return level, msg
}

// suspectedNode recognises memberlist's "Suspect <name> has failed, no acks
// received" (state.go, probeNode).
func suspectedNode(msg string) (string, bool) {
	const prefix, suffix = "Suspect ", " has failed, no acks received"
	if !strings.HasPrefix(msg, prefix) || !strings.HasSuffix(msg, suffix) {
		return "", false
	}
	name := msg[len(prefix) : len(msg)-len(suffix)]
	if name == "" || strings.ContainsAny(name, " \t") {
		return "", false
	}
	return name, true
}
