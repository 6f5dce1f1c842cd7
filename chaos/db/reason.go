package db

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// exitReason finds, in the last 256 KiB of a node's log, the line that
// says why it died: the last panic or fatal error, else the last line.
func exitReason(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	const window = 256 << 10
	if st, err := f.Stat(); err == nil && st.Size() > window {
		_, _ = f.Seek(st.Size()-window, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		l := lines[i]
		if strings.HasPrefix(l, "panic:") || strings.HasPrefix(l, "fatal error:") || strings.Contains(l, `"fatal":true`) {
			return clip(l)
		}
	}
	return clip(lines[len(lines)-1])
}

func clip(s string) string {
	if len(s) > 400 {
		return s[:400] + "..."
	}
	return s
}

// DataRaces lists the node logs that hold a race detector report (nodes
// built with -race print one and go on).
func (l *Local) DataRaces() []string {
	paths, _ := filepath.Glob(filepath.Join(l.o.Dir, "*.log"))
	var out []string
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err == nil && bytes.Contains(b, []byte("WARNING: DATA RACE")) {
			out = append(out, p)
		}
	}
	return out
}
