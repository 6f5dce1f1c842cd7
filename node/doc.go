// Package node is a cairn node: it wires storage, replication and the
// front doors together and implements the bucket service, every operation
// of the NATS Key/Value model (buckets, put/create/update/delete/purge,
// get, history, keys, watch, TTL and expiry, atomic batches).
//
// Lock order where locks nest: Node.mu → bucket state → replication group
// → storage. node translates engine outcomes into errors that carry the
// JetStream error codes NATS clients branch on (see errors.go).
//
// Sub-packages hold the front doors (the NATS protocol in node/natsproto
// and node/natsserver). node must not import cmd/.
package node
