// Package target adapts the systems `cairn bench` measures to the
// workload package's Target and Client contract:
//
//   - NATS: cairn and nats-server alike, through nats.go's jetstream
//     KeyValue API, so both are driven by exactly the same client code.
//   - Etcd: etcd through its own client (go.etcd.io/etcd/client/v3), with
//     a bucket mapped to a key prefix.
//
// Errors are wrapped around the workload sentinels so the runner can
// count them by kind. target is a client only: it must not import
// cairn's node packages (tests may, to start an in-process node).
package target
