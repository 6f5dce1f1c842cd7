// Package dist chooses which key an operation touches and how large a
// value it writes: uniform, zipfian (Gray et al., as YCSB) and latest key
// choice, and fixed or uniform value sizes.
//
// Everything here is pure and deterministic for a given seed: generators
// take a *rand.Rand the caller seeds, so a run can be repeated. Generators
// are not safe for concurrent use; each worker owns its own. dist does no
// I/O and knows nothing about targets or workloads.
package dist
