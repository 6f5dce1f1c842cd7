package node

import (
	"log/slog"
	"time"
)

// Config configures a node. Defaults live in DefaultConfig; cmd/cairn binds
// flags, environment and file to these fields.
type Config struct {
	// Name is a human-readable node name (default: the host name).
	Name string `mapstructure:"name"`
	// DataDir holds the node's database. Required.
	DataDir string `mapstructure:"data-dir"`
	// ClientAddr is the NATS protocol listener (host:port).
	ClientAddr string `mapstructure:"client-addr"`
	// HTTPAddr is the HTTP API, health and metrics listener (host:port).
	HTTPAddr string `mapstructure:"http-addr"`
	// PeerAddr is the raft peer transport listener (host:port). A node
	// with neither PeerAddr nor GossipAddr runs alone, without listeners
	// (embedding and tests).
	PeerAddr string `mapstructure:"peer-addr"`
	// GossipAddr is the membership gossip listener (host:port).
	GossipAddr string `mapstructure:"gossip-addr"`
	// Join lists seed gossip addresses of an existing cluster.
	Join []string `mapstructure:"join"`
	// Expect is how many nodes must be visible before the cluster forms.
	Expect int `mapstructure:"expect"`
	// TickInterval is one raft tick.
	TickInterval time.Duration `mapstructure:"tick-interval"`
	// ElectionTimeout is how long followers wait for a leader before
	// campaigning (rounded to whole ticks).
	ElectionTimeout time.Duration `mapstructure:"election-timeout"`
	// ExpiryInterval is how often the leader of a bucket checks for
	// revisions whose max age or TTL has passed.
	ExpiryInterval time.Duration `mapstructure:"expiry-interval"`
	// MaxPayload is the largest value (plus headers) accepted.
	MaxPayload int `mapstructure:"max-payload"`
	// MaxConnections bounds the NATS client connections open at once;
	// more are refused with -ERR 'maximum connections exceeded'.
	MaxConnections int `mapstructure:"max-connections"`
	// MaxSubscriptions bounds the subscriptions of one NATS client
	// connection (0: no limit), as nats-server's max_subscriptions.
	MaxSubscriptions int `mapstructure:"max-subscriptions"`
	// MaxPendingPublishes bounds the publishes the NATS port holds waiting
	// for replication at once; more are answered at once with a 429 "too
	// many requests" error (as nats-server's full stream ingest queue),
	// which clients retry. It bounds the memory a flood of
	// asynchronous publishes can take (each waiting publish holds a
	// worker goroutine).
	MaxPendingPublishes int `mapstructure:"max-pending-publishes"`
	// NoAdvertise keeps the other nodes' client addresses out of the INFO
	// sent to NATS clients (connect_urls), as nats-server's no_advertise:
	// for clients that reach the nodes through addresses other than the
	// ones the nodes advertise (published container ports, NAT).
	NoAdvertise bool `mapstructure:"no-advertise"`
	// MinFreeDisk is the free space (bytes) the data directory's
	// filesystem must keep: below it the node refuses writes with
	// nats-server's "insufficient resources" (503, 10023) and takes no
	// new raft entries, instead of running the disk full (Pebble stops
	// the process on a failed WAL write). 0 turns the guard off.
	MinFreeDisk int64 `mapstructure:"min-free-disk"`
	// RequestTimeout bounds a client request that waits for replication.
	RequestTimeout time.Duration `mapstructure:"request-timeout"`
	// Tags are KEY=VALUE placement tags; a bucket whose placement lists
	// tags is placed only on nodes that carry all of them.
	Tags []string `mapstructure:"tags"`
	// ReplaceAfter is how long a node may stay unreachable before its
	// replicas are re-created on other nodes.
	ReplaceAfter time.Duration `mapstructure:"replace-after"`
	// GossipKey, when set, encrypts gossip: base64 of 16, 24 or 32 bytes,
	// the same on every node.
	GossipKey string `mapstructure:"gossip-key"`
	// PeerKey, when set, authenticates the peer port: base64 of at least
	// 16 bytes, the same on every node. A connection from anything that
	// does not hold it ends at the handshake. KEY,OLD[,...] proves this
	// node with KEY and accepts peers that prove themselves with any of
	// them (for changing the key with rolling restarts).
	PeerKey string `mapstructure:"peer-key"`
	// PeerTLSCert, PeerTLSKey and PeerTLSCA, when set (all three),
	// encrypt the peer port with mutual TLS: every node presents its
	// certificate (PEM, valid for server and client authentication,
	// naming the address peers dial it at) and accepts only peers whose
	// certificate the CA in PeerTLSCA signed, as etcd's peer TLS. Every
	// node or none: a TLS node and a plaintext one refuse each other.
	PeerTLSCert string `mapstructure:"peer-tls-cert"`
	PeerTLSKey  string `mapstructure:"peer-tls-key"`
	PeerTLSCA   string `mapstructure:"peer-tls-ca"`
	// ClientToken, when set, is the token NATS clients must send in
	// CONNECT (auth_token) and HTTP API callers as a bearer token (or
	// as the password of basic authentication), as nats-server's
	// authorization token. TOKEN,ACCEPTED...: the first is the one this
	// node uses itself (forwarding to other nodes, in-process mounts)
	// and must be the same on every node; all are accepted (for changing
	// it with rolling restarts). See ClientAuth.
	ClientToken []string `mapstructure:"client-token"`
	// ClientUsers, when set, are the USER:PASSWORD pairs NATS clients
	// must send in CONNECT (user, pass) and HTTP API callers with basic
	// authentication, as nats-server's authorization users. Passwords
	// after the first may be bcrypt hashes. Not with ClientToken.
	ClientUsers []string `mapstructure:"client-users"`
	// ClientNKeys are nkey user public keys NATS clients may also sign in
	// with (nats-server's nkey users). Only with ClientToken or
	// ClientUsers: the NATS port only, never the HTTP API.
	ClientNKeys []string `mapstructure:"client-nkeys"`
	// ClientTLSCert and ClientTLSKey, when set, are the PEM certificate
	// and key the NATS port and the HTTP API present: every connection
	// to them is TLS, as with nats-server's tls block. The certificate
	// must name the addresses other nodes reach this node's client and
	// HTTP ports at. ClientTLSCA is the PEM file of the CA(s) a node
	// checks the other nodes' certificates against when it forwards to
	// them (the system's roots without one).
	ClientTLSCert string `mapstructure:"client-tls-cert"`
	ClientTLSKey  string `mapstructure:"client-tls-key"`
	ClientTLSCA   string `mapstructure:"client-tls-ca"`
	// ClientTLSVerify makes clients of both ports present a certificate
	// that ClientTLSCA signed (mutual TLS, as nats-server's tls verify);
	// nodes present their own (ClientTLSCert) to each other.
	ClientTLSVerify bool `mapstructure:"client-tls-verify"`
	// ClusterName names the cluster in gossip: nodes of differently
	// named clusters ignore each other, even when one reaches the
	// other's gossip address (an address reused by a node of another
	// cluster). The same on every node; empty is a name too.
	ClusterName string `mapstructure:"cluster-name"`
	// Logger receives structured logs. Not configurable from files.
	Logger *slog.Logger `mapstructure:"-"`
}

// DefaultConfig returns the defaults of an embedded node: it runs alone,
// without peer or gossip listeners. `cairn node` adds default peer and
// gossip addresses, so a node started from the command line can always be
// joined.
func DefaultConfig() Config {
	return Config{
		ClientAddr:          "127.0.0.1:4222",
		HTTPAddr:            "127.0.0.1:8222",
		Expect:              1,
		TickInterval:        100 * time.Millisecond,
		ElectionTimeout:     time.Second,
		ExpiryInterval:      250 * time.Millisecond,
		MaxPayload:          1 << 20,
		MaxConnections:      64 * 1024,
		MaxPendingPublishes: 16 * 1024,
		MinFreeDisk:         64 << 20,
		RequestTimeout:      10 * time.Second,
		Tags:                []string{},
		ClientToken:         []string{},
		ClientUsers:         []string{},
		ClientNKeys:         []string{},
		ReplaceAfter:        5 * time.Minute,
	}
}
