// Package compare runs `cairn bench compare`: it starts a local cluster
// of each target (cairn, nats-server, etcd, and cairn-b: a second cairn
// cluster of another build or size) on loopback, checks that it
// serves replicated buckets, measures its idle CPU, runs a matrix of
// workloads against all of them, interleaved so each workload's figures
// come from the same minutes (and, with rounds, the whole matrix again
// with the targets in reverse order), stops the clusters, and writes
// results.json, results.md and report.html.
//
// It wires the other bench packages together. It runs binaries and talks
// to them as a client; it must not import cairn's node packages.
package compare
