package replication

import (
	"fmt"
	"log/slog"
)

// raftLogger adapts etcd-raft's logger to slog. raft's Info chatter goes to
// Debug; warnings and errors keep their level.
type raftLogger struct{ l *slog.Logger }

func (r raftLogger) Debug(v ...any)                 { r.l.Debug(fmt.Sprint(v...)) }
func (r raftLogger) Debugf(format string, v ...any) { r.l.Debug(fmt.Sprintf(format, v...)) }
func (r raftLogger) Info(v ...any)                  { r.l.Debug(fmt.Sprint(v...)) }
func (r raftLogger) Infof(format string, v ...any)  { r.l.Debug(fmt.Sprintf(format, v...)) }
func (r raftLogger) Warning(v ...any)               { r.l.Warn(fmt.Sprint(v...)) }
func (r raftLogger) Warningf(format string, v ...any) {
	r.l.Warn(fmt.Sprintf(format, v...))
}
func (r raftLogger) Error(v ...any)                 { r.l.Error(fmt.Sprint(v...)) }
func (r raftLogger) Errorf(format string, v ...any) { r.l.Error(fmt.Sprintf(format, v...)) }
func (r raftLogger) Fatal(v ...any)                 { r.l.Error(fmt.Sprint(v...)); panic(fmt.Sprint(v...)) }
func (r raftLogger) Fatalf(format string, v ...any) {
	r.l.Error(fmt.Sprintf(format, v...))
	panic(fmt.Sprintf(format, v...))
}

// Panic and Panicf log before they panic, so that the reason reaches the
// node's structured log (and whatever collects it), not only stderr.
func (r raftLogger) Panic(v ...any) {
	r.l.Error("raft panic: " + fmt.Sprint(v...))
	panic(fmt.Sprint(v...))
}
func (r raftLogger) Panicf(format string, v ...any) {
	r.l.Error("raft panic: " + fmt.Sprintf(format, v...))
	panic(fmt.Sprintf(format, v...))
}
