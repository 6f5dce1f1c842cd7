// Package frontdoor wires a node's client-facing listeners to its bucket
// service: the NATS protocol server (node/natsserver) with the JetStream
// API (node/jetstream) on top. It exists because node itself cannot import
// its front doors (they import node); cmd/cairn and the end-to-end tests
// start a node's front doors through it.
//
// It owns listener lifecycles only: no protocol logic, no bucket logic.
package frontdoor
