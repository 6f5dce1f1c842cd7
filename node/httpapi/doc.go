// Package httpapi is a node's HTTP listener (node.Config.HTTPAddr): health
// and readiness probes, Prometheus metrics, a REST view of the Key/Value
// model and Server-Sent Events watches.
//
// It owns HTTP translation only: routes, request parsing, conditional
// headers, status codes and JSON shapes. Every operation is a call on the
// node's bucket service (node.Node, node.Bucket); there is no bucket logic
// and no storage access here. Errors are node.Error values rendered as
//
//	{"error":{"code":404,"err_code":10037,"description":"no message found"}}
//
// with the HTTP status equal to code. err_code is the JetStream error code
// a NATS client would have seen for the same failure (0 when there is no
// JetStream equivalent, e.g. an unknown route).
//
// Routes:
//
//	GET    /healthz                       200 while the process serves
//	GET    /readyz                        200 when ready, else 503 with reasons
//	GET    /metrics                       Prometheus exposition
//	GET    /v1/kv/{bucket}                keys (?filter=, repeatable)
//	GET    /v1/kv/{bucket}/{key...}       value; ?revision=N, ?stale, ?history, ?keys
//	PUT    /v1/kv/{bucket}/{key...}       put; If-Match (update), If-None-Match: * (create)
//	DELETE /v1/kv/{bucket}/{key...}       delete marker; ?purge; If-Match
//	GET    /v1/watch/{bucket}             Server-Sent Events watch
//	GET    /v1/buckets                    every bucket with config and state
//	GET    /v1/buckets/{name}             one bucket
//	PUT    /v1/buckets/{name}             create (idempotent); ?update=true updates
//	DELETE /v1/buckets/{name}             delete a bucket and its data
//	GET    /v1/cluster                    members, groups and leaders
//
// Keys may contain '/'. A key whose path form is not canonical (a leading
// '/', "//", "/./") is still addressed exactly: the server never redirects
// a key route to a cleaned path. Percent-encoding '/' as %2F also works.
//
// /metrics serves Options.Registry (a fresh registry when nil). The server
// registers the node's collectors (node.Node.Collectors: raft, storage,
// watches), per-bucket state read at scrape time (cairn_bucket_*), its own
// HTTP series (cairn_http_*) and the standard Go and process collectors
// (go_*, process_*). Other packages (membership, the cluster layer)
// register into the same registry, see Server.Registry.
package httpapi
