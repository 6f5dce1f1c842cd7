// Package bench is the root of cairn's load harness, `cairn bench`. It holds
// no code; the work is split into packages with one job each:
//
//   - dist: key choice (uniform, zipfian, latest) and value sizes. Pure
//     math, seeded, no I/O.
//   - measure: HDR latency recording per worker, the open-loop pacer and
//     coordinated-omission correction, live interval snapshots.
//   - workload: the workloads (put, get, mixed/YCSB A-F, cas, watch, keys,
//     history, bucket-create, large) and the runner that drives clients
//     against a target. It defines the small client contract targets
//     implement.
//   - target: that contract for NATS JetStream KV (cairn and nats-server,
//     through the same nats.go code) and for etcd (clientv3).
//   - report: the result schema (JSON) and the text, Markdown and HTML
//     renderings.
//   - cluster: starting and stopping local 3-node clusters of cairn,
//     nats-server and etcd on loopback, for comparisons.
//   - compare: the comparison matrix behind `cairn bench compare`.
//
// The harness is a client. Nothing under bench/ imports cairn's node
// packages except tests, which may start an in-process node to measure.
package bench
