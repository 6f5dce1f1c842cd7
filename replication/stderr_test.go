package replication

import "syscall"

// With CAIRN_TEST_LOG set to a directory, this process's stderr goes to
// a file there too: a fuzzing worker's stderr is thrown away, and with it
// the stack of a panic on any goroutine but the fuzz function's.
func init() {
	if f := testLogFile("stderr"); f != nil {
		_ = syscall.Dup2(int(f.Fd()), 2)
	}
}
