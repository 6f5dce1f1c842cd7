package replication

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// With CAIRN_TEST_LOG set to a directory, this process's stderr goes to
// a file there too: a fuzzing worker's stderr is thrown away, and with it
// the stack of a panic on any goroutine but the fuzz function's.
func init() {
	dir := os.Getenv("CAIRN_TEST_LOG")
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return
	}
	f, err := os.Create(filepath.Join(dir, fmt.Sprintf("stderr-%d.log", os.Getpid())))
	if err != nil {
		return
	}
	_ = syscall.Dup2(int(f.Fd()), 2)
}
