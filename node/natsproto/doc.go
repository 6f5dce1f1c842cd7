// Package natsproto is the NATS client wire format as cairn speaks it:
// a streaming parser for client→server operations (CONNECT, PING, PONG,
// PUB, HPUB, SUB, UNSUB), the ADR-4 header block, encoders for
// server→client operations (INFO, MSG, HMSG, PING, PONG, +OK, -ERR) and
// subject validation.
//
// It owns bytes only. It must not do I/O, start goroutines, keep
// connection or subscription state, or know anything about routing,
// buckets or JetStream; node/natsserver drives it. Error texts sent to
// clients mirror nats-server's so unchanged NATS clients react the same
// way (see ClientText).
package natsproto
