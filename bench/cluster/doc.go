// Package cluster starts and stops local clusters of cairn, nats-server
// and etcd on loopback for `cairn bench compare`: it picks ports, writes
// configuration, runs one process per node with its log in a file,
// waits until every node accepts connections and stops them all again
// (SIGTERM, then SIGKILL), also when the caller is interrupted.
//
// It runs binaries; it knows nothing about workloads, and it must not
// import cairn's node packages. Whether a cluster can serve replicated
// buckets is checked by the caller with a real client.
package cluster
