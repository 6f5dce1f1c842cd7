// Package natsserver is cairn's core NATS front door: a TCP server that
// speaks the NATS client protocol (via node/natsproto) so unchanged NATS
// clients can connect. It owns client connections (handshake, pings,
// outbound buffering and slow-consumer cutoff), subscriptions and
// subject routing (a sublist with `*`/`>` wildcards and queue groups),
// no-responders replies, and in-process subscribers that let other
// packages serve subjects (Subscribe, queued on a goroutine of their own;
// SubscribeInline, called on the publisher's goroutine; Publish,
// HasInterest), and what INFO tells clients about the other servers
// (SetConnectURLs) and about this one going away (LameDuck).
//
// It must know nothing of buckets, streams, JetStream or storage; those
// are layered on top through the internal-subscriber API. It does not
// parse wire bytes itself (natsproto does) and has no authentication,
// TLS, clustering or accounts.
package natsserver
