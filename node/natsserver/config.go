package natsserver

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cairnkv/cairn/node/natsproto"
)

// Config configures a Server. Zero fields take the defaults listed on
// each field (DefaultConfig returns them filled in).
type Config struct {
	// ListenAddr is the TCP host:port to listen on. Default
	// "127.0.0.1:4222"; use port 0 for a random port.
	ListenAddr string
	// ServerID is announced as server_id. Default: a random
	// nats-server-style ID ("N" + 55 base32 characters).
	ServerID string
	// ServerName is announced as server_name. Default: ServerID.
	ServerName string
	// Version is the nats-server version to announce. Clients gate
	// features on it (see docs §7). Default "2.11.0".
	Version string
	// APILevel, when > 0, is announced as api_lvl.
	APILevel int
	// JetStream is announced as jetstream. DefaultConfig sets true;
	// the zero value announces false.
	JetStream bool

	// MaxPayload bounds a message's header plus body, in bytes.
	// Default 1 MiB.
	MaxPayload int
	// MaxControlLine bounds a protocol line, in bytes. Default 4096.
	MaxControlLine int
	// MaxConnections bounds concurrent client connections. Default 65536.
	MaxConnections int
	// MaxSubscriptions bounds subscriptions per connection; 0 means
	// unlimited (the default).
	MaxSubscriptions int
	// MaxPending bounds the bytes queued for one connection; beyond it
	// the connection is cut off as a slow consumer. Default 64 MiB.
	MaxPending int
	// PingInterval is how often the server pings each client. Default 2m.
	PingInterval time.Duration
	// MaxPingsOut is how many unanswered pings make a connection stale
	// and closed. Default 2.
	MaxPingsOut int
	// WriteDeadline bounds one socket write; a client that cannot take
	// data for this long is cut off as a slow consumer. Default 10s.
	WriteDeadline time.Duration

	// InternalQueueMsgs and InternalQueueBytes bound the messages queued
	// for one in-process subscriber; beyond them messages are dropped
	// (and counted) rather than blocking publishers. Defaults 65536
	// messages and 64 MiB.
	InternalQueueMsgs  int
	InternalQueueBytes int

	// Authorize, when set, makes clients authenticate (auth_required in
	// INFO): a client's first operation must be a CONNECT whose user,
	// pass and auth_token Authorize accepts, within AuthTimeout; anything
	// else gets -ERR 'Authorization Violation' and the connection closes,
	// as with nats-server's authorization block.
	Authorize func(user, pass, token string) bool
	// AuthorizeNKey, when set, also admits clients that sign in with an
	// nkey (as nats-server's nkey users): INFO carries a fresh nonce per
	// connection, and a CONNECT with nkey and sig is accepted when sig is
	// the nkey's signature of that nonce and AuthorizeNKey accepts the
	// public key. Such a CONNECT is judged by its nkey alone.
	AuthorizeNKey func(publicKey string) bool
	// AuthTimeout bounds the wait for an authenticating CONNECT, after
	// which the client gets -ERR 'Authentication Timeout'. Default 2s
	// (nats-server's).
	AuthTimeout time.Duration

	// TLS, when set, makes every connection TLS, as nats-server's tls
	// block: INFO (sent in the clear, with tls_required) is followed by a
	// TLS handshake that must finish within TLSTimeout, before anything
	// else is read.
	TLS *tls.Config
	// TLSTimeout bounds the TLS handshake. Default 2s (nats-server's).
	TLSTimeout time.Duration

	// Logger receives connection-level logs. Default slog.Default().
	Logger *slog.Logger
}

// Defaults.
const (
	DefaultListenAddr     = "127.0.0.1:4222"
	DefaultVersion        = "2.11.0"
	DefaultMaxConnections = 64 * 1024
	DefaultMaxPending     = 64 << 20
	DefaultPingInterval   = 2 * time.Minute
	DefaultMaxPingsOut    = 2
	DefaultWriteDeadline  = 10 * time.Second
	DefaultInternalMsgs   = 64 * 1024
	DefaultInternalBytes  = 64 << 20
	DefaultAuthTimeout    = 2 * time.Second
	DefaultTLSTimeout     = 2 * time.Second
)

// DefaultConfig returns a Config with every default filled in and
// JetStream announced.
func DefaultConfig() Config {
	c := Config{JetStream: true}
	c.fill()
	return c
}

// fill replaces zero fields with defaults.
func (c *Config) fill() {
	setDefault(&c.ListenAddr, DefaultListenAddr)
	if c.ServerID == "" {
		c.ServerID = newServerID()
	}
	setDefault(&c.ServerName, c.ServerID)
	setDefault(&c.Version, DefaultVersion)
	setDefault(&c.MaxPayload, natsproto.DefaultMaxPayload)
	setDefault(&c.MaxControlLine, natsproto.DefaultMaxControlLine)
	setDefault(&c.MaxConnections, DefaultMaxConnections)
	setDefault(&c.MaxPending, DefaultMaxPending)
	setDefault(&c.PingInterval, DefaultPingInterval)
	setDefault(&c.MaxPingsOut, DefaultMaxPingsOut)
	setDefault(&c.WriteDeadline, DefaultWriteDeadline)
	setDefault(&c.InternalQueueMsgs, DefaultInternalMsgs)
	setDefault(&c.InternalQueueBytes, DefaultInternalBytes)
	setDefault(&c.AuthTimeout, DefaultAuthTimeout)
	setDefault(&c.TLSTimeout, DefaultTLSTimeout)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

func setDefault[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}

func (c *Config) validate() error {
	var errs []error
	for name, v := range map[string]int{
		"MaxPayload": c.MaxPayload, "MaxControlLine": c.MaxControlLine,
		"MaxConnections": c.MaxConnections, "MaxSubscriptions": c.MaxSubscriptions,
		"MaxPending": c.MaxPending, "MaxPingsOut": c.MaxPingsOut, "APILevel": c.APILevel,
		"InternalQueueMsgs": c.InternalQueueMsgs, "InternalQueueBytes": c.InternalQueueBytes,
	} {
		if v < 0 {
			errs = append(errs, fmt.Errorf("%s is negative (%d)", name, v))
		}
	}
	if c.PingInterval < 0 || c.WriteDeadline < 0 || c.AuthTimeout < 0 || c.TLSTimeout < 0 {
		errs = append(errs, errors.New("PingInterval, WriteDeadline, AuthTimeout and TLSTimeout must not be negative"))
	}
	if c.MaxPending < c.MaxPayload {
		errs = append(errs, fmt.Errorf("MaxPending (%d) is below MaxPayload (%d)", c.MaxPending, c.MaxPayload))
	}
	return errors.Join(errs...)
}
