// Command cairn is cairn's single binary. `cairn node` runs a database
// node; `cairn version` reports the build. Later issues add the client,
// cluster and tooling verbs (kv, cluster, bucket, local, bench, chaos,
// mount, health), each in its own file, registered in root.go.
//
// This package is the only place where configuration is bound: viper reads
// a YAML file (--config), CAIRN_* environment variables and flags into
// node.Config (see config.go). It wires concrete types together and holds
// no database logic of its own.
package main

import (
	"fmt"
	"io"
	"os"
)

func main() {
	stopProfile := startEnvCPUProfile()
	code := run(os.Args[1:], os.Stdout, os.Stderr)
	stopProfile()
	os.Exit(code)
}

// run executes the command line args and returns the process exit status:
// 0 on success, 1 on any error (printed to stderr).
func run(args []string, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.Execute(); err != nil {
		fmt.Fprintf(stderr, "cairn: %v\n", err)
		return 1
	}
	return 0
}
