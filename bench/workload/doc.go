// Package workload defines what `cairn bench` measures and runs it: the
// workloads (put, get, mixed = YCSB A-F, cas, watch, keys, history,
// bucket-create, large), the load phase that fills a bucket before
// measuring, closed- and open-loop clients, warm-up, live progress and
// the summary of a run as a report.Run.
//
// It owns the contract a system under test implements (Target and
// Client) and the sentinel errors targets wrap so failures are counted by
// kind. It must not know any particular system: the target package
// adapts NATS and etcd to this contract. Every loop here is bounded by the
// run's duration, its op count and a per-operation timeout.
package workload
