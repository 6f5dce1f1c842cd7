// Package history records what the chaos harness's clients did and saw:
// client operations with their call and return times on one monotonic
// clock, watch events, and the final scans of each bucket. It is plain
// data shared by the workloads that write it and the checkers that read
// it.
//
// It owns no goroutines and does no I/O; it must not import the other
// chaos packages, cairn's node packages or any client library.
package history
