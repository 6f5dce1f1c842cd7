// Package chaos runs a chaos test: it starts a cluster (cairn or
// nats-server, package db) or uses one that is already running, drives
// the workloads (package workload), injects faults (package nemesis),
// heals, reads every bucket's final history through every node, checks
// what the clients saw (package checker) and reports operations, faults,
// recoveries and anomalies by kind, with a live summary while it runs.
//
// `cairn chaos run` (cmd/cairn/chaos.go) binds its flags to Config.
// chaos must not import cairn's node packages: it tests servers through
// the NATS protocol and their processes only.
package chaos
