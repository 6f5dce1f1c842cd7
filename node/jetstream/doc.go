// Package jetstream implements the subset of the JetStream API that NATS
// Key/Value clients use (nats.go's jetstream.KeyValue, the nats CLI), on top
// of node's bucket service: account info, KV_ stream management, publishes
// to $KV.<bucket>.<key> answered with PubAcks, direct and message gets, and
// the ordered push consumers behind watches.
//
// It translates between JetStream's JSON and header conventions and node's
// bucket operations; it holds no state of its own beyond live consumers.
// It must not touch storage or replication directly, and it reaches
// clients only through the natsserver routing API.
package jetstream
