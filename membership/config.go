package membership

import (
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/memberlist"
)

// DefaultPort is the default gossip port (TCP and UDP).
const DefaultPort = 7946

// Profiles select memberlist's timer presets.
const (
	ProfileLAN   = "lan"   // memberlist.DefaultLANConfig: the default
	ProfileWAN   = "wan"   // memberlist.DefaultWANConfig: slow, lossy links
	ProfileLocal = "local" // memberlist.DefaultLocalConfig: fast timers, for tests
)

// gossipLabel is put on every gossip packet and stream so that cairn never
// merges with another memberlist-based cluster (Consul, Serf, ...) that
// happens to be reachable on the same port. A Config.Cluster name is
// appended to it (label), so that two cairn clusters never do either.
const gossipLabel = "cairn"

// maxClusterName keeps the label within memberlist's 255 bytes.
const maxClusterName = 200

// label is the gossip label of a cluster named name.
func label(name string) string {
	if name == "" {
		return gossipLabel
	}
	return gossipLabel + "/" + name
}

// Config configures a node's membership.
type Config struct {
	Meta          Meta
	BindAddr      string   // host:port for gossip (TCP+UDP); port 0 picks a free one
	AdvertiseAddr string   // optional host or host:port others should use to reach this node
	Join          []string // seed host:port list (this node's own address may be in it)
	SecretKey     []byte   // optional gossip encryption key: 16, 24 or 32 bytes (AES-128/192/256)
	Profile       string   // ProfileLAN (default), ProfileWAN or ProfileLocal
	// Cluster names the cluster: nodes with different names ignore each
	// other's gossip, even when one reaches the other's address (an
	// address reused by a node of another cluster, which a node's
	// reconnect loop would otherwise push its whole state to). Empty is
	// a name too.
	Cluster string
	Logger  *slog.Logger
}

// DefaultConfig is a LAN profile bound to all interfaces on DefaultPort.
func DefaultConfig() Config {
	return Config{
		BindAddr: net.JoinHostPort("0.0.0.0", strconv.Itoa(DefaultPort)),
		Profile:  ProfileLAN,
	}
}

// ErrBadKey is returned by Start for a SecretKey of the wrong length.
var ErrBadKey = errors.New("membership: gossip encryption key must be 16, 24 or 32 bytes")

// timing is what the package derives from the profile for its own loops.
type timing struct {
	joinMin, joinMax time.Duration // seed join retry backoff
	updateTimeout    time.Duration // UpdateMeta: wait for the broadcast to leave
	deadReclaim      time.Duration // a dead ID may reappear at a new address after this
	reconnect        time.Duration // how often failed members are tried again
}

func (c Config) validate() error {
	if c.Meta.ID == 0 {
		return errors.New("membership: config: Meta.ID must not be 0")
	}
	if len(c.SecretKey) > 0 {
		if err := memberlist.ValidateKey(c.SecretKey); err != nil {
			return fmt.Errorf("%w (got %d bytes)", ErrBadKey, len(c.SecretKey))
		}
	}
	if _, _, err := splitAddr(c.BindAddr, "BindAddr"); err != nil {
		return err
	}
	if len(c.Cluster) > maxClusterName {
		return fmt.Errorf("membership: config: cluster name of %d bytes, at most %d", len(c.Cluster), maxClusterName)
	}
	return nil
}

// memberlistConfig builds memberlist's configuration, delegates excluded.
func (c Config) memberlistConfig(logger *log.Logger) (*memberlist.Config, timing, error) {
	var (
		mc *memberlist.Config
		t  timing
	)
	switch c.Profile {
	case "", ProfileLAN:
		mc = memberlist.DefaultLANConfig()
		t = timing{joinMin: 500 * time.Millisecond, joinMax: 15 * time.Second, updateTimeout: 5 * time.Second, deadReclaim: 30 * time.Second, reconnect: 10 * time.Second}
	case ProfileWAN:
		mc = memberlist.DefaultWANConfig()
		t = timing{joinMin: time.Second, joinMax: 30 * time.Second, updateTimeout: 10 * time.Second, deadReclaim: time.Minute, reconnect: 30 * time.Second}
	case ProfileLocal:
		mc = memberlist.DefaultLocalConfig()
		t = timing{joinMin: 50 * time.Millisecond, joinMax: time.Second, updateTimeout: 2 * time.Second, deadReclaim: 2 * time.Second, reconnect: 2 * time.Second}
	default:
		return nil, timing{}, fmt.Errorf("membership: config: unknown profile %q (want %q, %q or %q)", c.Profile, ProfileLAN, ProfileWAN, ProfileLocal)
	}

	host, port, err := splitAddr(c.BindAddr, "BindAddr")
	if err != nil {
		return nil, timing{}, err
	}
	mc.Name = NodeName(c.Meta.ID)
	mc.BindAddr = host
	mc.BindPort = port
	mc.AdvertisePort = port
	if c.AdvertiseAddr != "" {
		ahost, aport, err := splitAdvertise(c.AdvertiseAddr, port)
		if err != nil {
			return nil, timing{}, err
		}
		mc.AdvertiseAddr = ahost
		mc.AdvertisePort = aport
	}
	if len(c.SecretKey) > 0 {
		mc.SecretKey = append([]byte(nil), c.SecretKey...)
	}
	mc.Label = label(c.Cluster)
	mc.DeadNodeReclaimTime = t.deadReclaim
	mc.Logger = logger
	return mc, t, nil
}

func splitAddr(addr, what string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("membership: config: %s %q: %w", what, addr, err)
	}
	port, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("membership: config: %s %q: bad port: %w", what, addr, err)
	}
	if host == "" {
		host = "0.0.0.0"
	}
	return host, int(port), nil
}

// splitAdvertise accepts "host" (the bind port is used) or "host:port".
func splitAdvertise(addr string, bindPort int) (string, int, error) {
	if net.ParseIP(addr) != nil {
		return addr, bindPort, nil
	}
	host, port, err := splitAddr(addr, "AdvertiseAddr")
	if err != nil {
		return "", 0, err
	}
	if net.ParseIP(host) == nil {
		return "", 0, fmt.Errorf("membership: config: AdvertiseAddr %q: host must be an IP address", addr)
	}
	if port == 0 {
		port = bindPort
	}
	return host, port, nil
}
