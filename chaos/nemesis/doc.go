// Package nemesis injects faults into a cluster on a schedule: a quiet
// interval, one fault held for a while, healing, and a wait until the
// cluster is healthy again (the recovery). The faults are process kills
// (a random node, a bucket's leader, a majority), SIGSTOP pauses,
// network partitions (halves, bridge, isolated leader), packet loss,
// delay, a throttled (congested) link, rolling restarts, membership changes (a node removed, a fresh
// one added) and a full disk.
//
// It acts through small interfaces it declares (Cluster, Network, Disks,
// Members); package db implements them for local clusters. It must not
// import the workload or checker packages, and never targets anything
// but the cluster it is given.
package nemesis
