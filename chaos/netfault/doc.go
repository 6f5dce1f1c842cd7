// Package netfault gives each node of a local chaos cluster its own
// network namespace, and cuts, degrades and heals the links between them.
//
// Topology: a hub namespace holds a bridge; every node namespace has one
// veth into it with its own address (10.213.K.11, .12, ...), and the
// harness's namespace has one too (10.213.K.1), so clients reach every
// node directly and faults between nodes never touch client traffic.
// Faults are iptables rules in a chain named CAIRN-CHAOS inside each node
// namespace (packet drops for partitions, random drops for loss), tc
// netem for delay where the kernel has it, and tc tbf for a congested
// link (a rate limit with a bounded queue). Nothing is changed outside
// the namespaces this package creates: healing flushes the chains, and
// Close deletes the namespaces, which removes every rule, queue and veth
// with them.
//
// It needs root and the ip, iptables and tc commands; Check says what is
// missing. It must not touch any namespace, interface or rule it did not
// create (CleanupStale removes only namespaces named cairn-chaos-*).
package netfault
