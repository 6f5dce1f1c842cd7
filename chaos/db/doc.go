// Package db runs the cluster under test: N cairn or nats-server
// processes on this machine (started with bench/cluster), each with its
// own data directory, in its own network namespace when network faults
// are wanted (package netfault) or on 127.0.0.1 otherwise, optionally on
// a small tmpfs of its own for disk-full faults. It kills, pauses,
// restarts, replaces and fills the disks of nodes when the nemesis asks,
// tells when the cluster is healthy and which node leads a bucket, and
// notices nodes that exit without being told to.
//
// It drives processes and talks to them over the network only; it must
// not import cairn's node packages, nor the workload or checker packages.
package db
