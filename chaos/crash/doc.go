// Package crash holds in-process crash tests of a cairn cluster: three
// nodes in one test process, each on its own Pebble crashable in-memory
// filesystem, under write load; a simulated power loss (a crash clone
// that keeps only synced data, or part of the unsynced data) of every
// node at once or of one node; then the nodes restart on their clones
// and every acknowledged write must still be there, on every node.
//
// It is test-only: the chaos harness (package chaos) tests real
// processes over the network; this package reaches into cairn's node
// package instead, which nothing else under chaos/ may import.
package crash
